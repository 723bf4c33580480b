/**
 * One download from its first request to the verified file under its final name: the loop of
 * attempts, each one request whose answer response-decision.ts judges; retries of transient
 * failures (network errors, 408, 429, 5xx, a stalled body) with back-off (attempt.ts), a bounded
 * number of times without progress; and the stop signal, which ends the job after a last
 * checkpoint. With CONNECTIONS above 1, a large file whose server honours Range continues over
 * several connections (parallel.ts) once the first answer is in; otherwise, and whenever the
 * server stops honouring Range, one connection streams the file from the durable prefix on.
 */
import { statfs } from 'node:fs/promises';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { join } from 'node:path';
import { AppError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { PartWriteError } from '../part-writer.js';
import { AttemptError, IdleTimer, readChunk, roomToWrite, unreachable, waitBeforeRetry, type RetryPolicy } from './attempt.js';
import { fetchPieces, type OpenedPiece, type ParallelEnv } from './parallel.js';
import { PartFile, writeFailure } from './part-file.js';
import { ProgressReporter, type DownloadProgress } from './progress.js';
import { decideResponse, ifRangeValue, requestHeaders, type ResponseDecision } from './response-decision.js';
import { cutPieces, isPrefixOnly, missingRanges, MAX_PIECE_BYTES, PARALLEL_MIN_BYTES, pieceSize, shouldSplit } from './segments.js';

export { backoffDelay } from './attempt.js';

export interface DownloadDeps {
  fetch: typeof fetch;
  /** Milliseconds, monotonic enough for rates and timeouts. */
  now: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  random: () => number;
  /** Free bytes for an unprivileged writer in `dir`. */
  freeBytes: (dir: string) => Promise<number>;
}

export const defaultDownloadDeps = (): DownloadDeps => ({
  fetch: globalThis.fetch,
  now: () => performance.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, { signal }),
  random: Math.random,
  freeBytes: async (dir) => {
    const fs = await statfs(dir);
    return fs.bavail * fs.bsize;
  },
});

export interface DownloadOptions {
  url: string;
  dir: string;
  fileName: string;
  /** Expected SHA-256, lower-case hex. */
  sha256?: string | undefined;
  /** Connections at once for a large file whose server honours Range (CONNECTIONS); 1: one. */
  connections?: number;
  /** Bytes left below which one connection is kept (segments.ts PARALLEL_MIN_BYTES). */
  parallelMinBytes?: number;
  /** The largest piece one Range request of a parallel download asks for. */
  maxPieceBytes?: number;
  /** Consecutive failed attempts (without progress) before giving up. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** An attempt that receives no byte for this long is abandoned and retried. */
  idleTimeoutMs?: number;
  /** Bytes between durable checkpoints (fdatasync + sidecar): the most a restart re-fetches. */
  checkpointBytes?: number;
  /** A log line every this many percent (or every 10 checkpoints when the size is unknown). */
  logEveryPercent?: number;
}

export interface DownloadContext {
  log: Logger;
  signal: AbortSignal;
  /**
   * How far the download is, while bytes flow; `undefined` once the file is complete and
   * verified under its final name. The caller shows it (status.ts `downloadProgressTo`).
   */
  onProgress: (progress: DownloadProgress | undefined) => void;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  bytes: number;
  /** Bytes that came over the network in this run (not the resumed part). */
  fetchedBytes: number;
  /** False when the final file was there already. */
  downloaded: boolean;
}

export const DEFAULTS = {
  maxAttempts: 6,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  idleTimeoutMs: 60_000,
  // Each checkpoint is a device cache flush: measured with 1 GiB downloads on this project's
  // machines, 64 MiB between them took 1.9 s where 16 MiB took 2.4 s (curl + fdatasync: 2.1 s).
  checkpointBytes: 64 * 2 ** 20,
  logEveryPercent: 5,
  // dockur's CONNECTIONS default (src/config/options.ts has the setting).
  connections: 4,
  parallelMinBytes: PARALLEL_MIN_BYTES,
  maxPieceBytes: MAX_PIECE_BYTES,
};

export type Settings = typeof DEFAULTS & DownloadOptions;

export class DownloadJob {
  readonly #part: PartFile;
  readonly #progress: ProgressReporter;
  readonly #finalPath: string;
  readonly #retry: RetryPolicy;
  #fetched = 0;
  /** Set once the server has ignored a piece's Range: one connection from the prefix on. */
  #rangesIgnored = false;

  constructor(
    readonly ctx: DownloadContext,
    readonly settings: Settings,
    readonly deps: DownloadDeps,
    readonly log: Logger,
    readonly shownUrl: string,
  ) {
    this.#finalPath = join(settings.dir, settings.fileName);
    const partPath = `${this.#finalPath}.part`;
    this.#part = new PartFile({ partPath, sidecarPath: `${partPath}.json`, shownUrl }, log, settings.checkpointBytes);
    this.#progress = new ProgressReporter(settings.fileName, settings, deps.now, log, (progress) => ctx.onProgress(progress));
    this.#retry = { settings, sleep: deps.sleep, random: deps.random, log, shownUrl, signal: ctx.signal };
  }

  async run(): Promise<DownloadResult> {
    try {
      await this.#part.load();
      await this.#attemptUntilComplete();
      return await this.#finish();
    } finally {
      await this.#part.close();
    }
  }

  async #attemptUntilComplete(): Promise<void> {
    let failures = 0;
    for (;;) {
      this.#throwIfStopped();
      const before = this.#part.received;
      try {
        await this.#attempt();
        return;
      } catch (error) {
        if (this.ctx.signal.aborted) {
          await this.#part.checkpoint().catch(() => undefined);
          this.#throwIfStopped();
        }
        if (!(error instanceof AttemptError)) throw error;
        await this.#reset(error);
        // An attempt that moved the download forward starts a fresh series of retries.
        failures = this.#part.received > before ? 1 : failures + 1;
        await waitBeforeRetry(this.#retry, error, failures, this.#part.durableBytes, { bytesDone: this.#part.received });
      }
    }
  }

  /** What a piece's answer asked of the part before the next attempt. */
  async #reset(error: AttemptError): Promise<void> {
    if (error.reset === 'discard') {
      this.log.warn({ reason: error.message, bytesDone: this.#part.received }, 'the file changed on the server; starting from the beginning');
      await this.#part.discard();
    } else if (error.reset === 'prefix') {
      this.log.warn({ reason: error.message, bytesDone: this.#part.sidecar.bytesDone }, 'the server ignores Range; continuing on one connection');
      this.#rangesIgnored = true;
      await this.#part.keepPrefixOnly();
    }
  }

  #throwIfStopped(): void {
    if (!this.ctx.signal.aborted) return;
    const { fileName } = this.settings;
    const bytesDone = this.#part.durableBytes;
    throw new AppError('media', `download of ${fileName} stopped by request; ${bytesDone} bytes kept for resume`, {
      details: { file: fileName, bytesDone },
      // The stop request itself, so that the supervisor recognises a requested end.
      cause: this.ctx.signal.reason,
    });
  }

  /** One request (or one round of pieces); resolves when the part holds the whole file. */
  async #attempt(): Promise<void> {
    const part = this.#part;
    const { total, done } = part.sidecar;
    // A part with gaps (pieces of an earlier run): only pieces can fill them, over CONNECTIONS
    // connections (one included); a server that ignores Range leaves only the prefix usable.
    if (total !== undefined && !isPrefixOnly(done)) {
      if (this.#rangesIgnored) await part.keepPrefixOnly();
      else return this.#pieces(total, part.received);
    }
    const parallel = this.settings.connections > 1 && !this.#rangesIgnored;
    const offset = part.received;
    const attempt = new AbortController();
    const signal = AbortSignal.any([this.ctx.signal, attempt.signal]);
    const idle = new IdleTimer(this.settings.idleTimeoutMs, () => attempt.abort(new Error('stalled')));
    let response: Response;
    try {
      response = await this.deps.fetch(this.settings.url, { headers: requestHeaders(part.sidecar, offset, parallel), signal, redirect: 'follow' });
    } catch (error) {
      idle.stop();
      throw unreachable(this.settings.url, error);
    }
    try {
      const decision = decideResponse({
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
        offset,
        sidecar: part.sidecar,
        shownUrl: this.shownUrl,
        now: Date.now(),
      });
      await this.#act(decision, response, { response, signal, idle }, parallel);
    } finally {
      idle.stop();
      // An unread body keeps the connection busy: release it.
      await response.body?.cancel().catch(() => undefined);
    }
  }

  async #act(decision: ResponseDecision, response: Response, opened: OpenedPiece, parallel: boolean): Promise<void> {
    if (decision.action === 'complete') return;
    if (decision.action === 'fail') throw new AttemptError(decision.reason, false);
    if ('discard' in decision && decision.discard) {
      this.log.warn(decision.discard.fields, decision.discard.message);
      await this.#part.discard();
    }
    if (decision.action === 'retry') throw new AttemptError(decision.reason, true, decision.retryAfterMs);

    const { total } = decision;
    const offset = this.#part.received;
    this.#part.describe(decision.validators, total);
    if (total !== undefined) await this.#checkFreeSpace(total - offset);
    const { connections, parallelMinBytes: minBytes } = this.settings;
    if (total !== undefined && parallel && shouldSplit({ connections, status: response.status, total, offset, validator: ifRangeValue(decision.validators), minBytes })) {
      return this.#pieces(total, offset, opened);
    }
    if (!response.body) throw new AttemptError('the server sent no body', true);
    await this.#stream(response.body, total, opened.idle, opened.signal);
    if (total !== undefined && this.#part.received < total) {
      throw new AttemptError(`the connection ended after ${this.#part.received} of ${total} bytes`, true);
    }
  }

  /** The missing ranges as pieces over several connections; `opened` answers from `offset`. */
  async #pieces(total: number, offset: number, opened?: OpenedPiece): Promise<void> {
    const part = this.#part;
    const missing = missingRanges(part.sidecar.done, total);
    const size = pieceSize(total - part.received, this.settings.connections, this.settings.maxPieceBytes);
    const pieces = cutPieces(missing, size);
    // The open answer starts at `offset`, the start of the first missing range.
    if (opened && pieces[0]?.[0] !== offset) throw new AttemptError(`the first missing byte is not ${offset}`, true);
    const env: ParallelEnv = {
      ctx: this.ctx,
      settings: this.settings,
      deps: this.deps,
      log: this.log,
      shownUrl: this.shownUrl,
      part,
      progress: this.#progress,
      retry: this.#retry,
      onFetched: (bytes) => (this.#fetched += bytes),
    };
    await fetchPieces(env, pieces, opened);
  }

  async #checkFreeSpace(needed: number): Promise<void> {
    const { dir, fileName } = this.settings;
    const free = await this.deps.freeBytes(dir);
    if (free < needed) throw new AttemptError(`not enough free space in ${dir} for ${fileName}: ${needed} bytes needed, ${free} free`, false);
  }

  /**
   * Streams the body into the part, on one connection. The writer thread hashes and writes while
   * the next bytes are received; the part checkpoints every `checkpointBytes` beside both.
   */
  async #stream(body: ReadableStream<Uint8Array>, total: number | undefined, idle: IdleTimer, signal: AbortSignal): Promise<void> {
    const part = this.#part;
    const writer = await part.writer();
    try {
      const reader = body.getReader();
      for (;;) {
        const chunk = await readChunk(reader, this.ctx.signal, signal, this.settings.idleTimeoutMs);
        if (chunk.done) break;
        idle.touch();
        const bytes = chunk.value;
        if (total !== undefined && part.received + bytes.length > total) {
          throw new AttemptError(`the server sent more than the ${total} bytes it announced`, true);
        }
        this.#fetched += bytes.length;
        part.write(writer, bytes);
        await roomToWrite(writer, this.settings.idleTimeoutMs, this.ctx.signal, part.paths.partPath);
        this.#progress.update(part.received, total);
      }
    } catch (error) {
      throw error instanceof PartWriteError ? writeFailure(error, part.paths.partPath) : error;
    } finally {
      await part.checkpoint();
    }
  }

  async #finish(): Promise<DownloadResult> {
    const part = this.#part;
    const digest = await part.digest();
    const expected = this.settings.sha256;
    const { fileName } = this.settings;
    if (expected && digest !== expected) {
      // Nothing is kept: bytes with the wrong digest cannot be resumed into the right file.
      await part.remove();
      throw new AppError('media', `${fileName} from ${this.shownUrl} has SHA-256 ${digest}, expected ${expected}`, {
        hint: 'The download was deleted. Check BOOT_SHA256 against the publisher, or the URL.',
        details: { file: fileName, expected, actual: digest },
      });
    }
    await part.rename(this.#finalPath, this.settings.dir);
    this.ctx.onProgress(undefined);
    const bytes = part.received;
    this.log.info({ sha256: digest, bytes, fetched: this.#fetched, verified: expected !== undefined }, 'download complete');
    return { path: this.#finalPath, sha256: digest, bytes, fetchedBytes: this.#fetched, downloaded: true };
  }
}
