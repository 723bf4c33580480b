/**
 * One download from its first request to the verified file under its final name: the loop of
 * attempts, each one request whose answer response-decision.ts judges; retries of transient
 * failures (network errors, 408, 429, 5xx, a stalled body) with exponential back-off and full
 * jitter ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015), a bounded number of
 * times without progress; and the stop signal, which ends the job after a last checkpoint.
 */
import { statfs } from 'node:fs/promises';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { join } from 'node:path';
import { AppError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { PartWriteError } from '../part-writer.js';
import { PartFile, writeFailure } from './part-file.js';
import { ProgressReporter, type DownloadProgress } from './progress.js';
import { decideResponse, requestHeaders, type ResponseDecision } from './response-decision.js';

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
};

export type Settings = typeof DEFAULTS & DownloadOptions;

/** Full jitter: a random delay in [0, min(max, base·2^(n-1))], never below 10% of it. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.1 + 0.9 * random()));
}

/** Thrown inside an attempt; `retry` says whether another attempt may help. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class DownloadJob {
  readonly #part: PartFile;
  readonly #progress: ProgressReporter;
  readonly #finalPath: string;
  #fetched = 0;

  constructor(
    readonly ctx: DownloadContext,
    readonly settings: Settings,
    readonly deps: DownloadDeps,
    readonly log: Logger,
    readonly shownUrl: string,
  ) {
    this.#finalPath = join(settings.dir, settings.fileName);
    const partPath = `${this.#finalPath}.part`;
    this.#part = new PartFile({ partPath, sidecarPath: `${partPath}.json`, shownUrl }, log);
    this.#progress = new ProgressReporter(settings.fileName, settings, deps.now, log, (progress) => ctx.onProgress(progress));
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
        // An attempt that moved the download forward starts a fresh series of retries.
        failures = this.#part.received > before ? 1 : failures + 1;
        await this.#waitBeforeRetry(error, failures);
      }
    }
  }

  /** Fails for good when the error or the count says so; else sleeps the back-off. */
  async #waitBeforeRetry(error: AttemptError, failures: number): Promise<void> {
    const { shownUrl } = this;
    if (!error.retry) {
      throw new AppError('media', error.message, {
        hint: 'Check the URL (BOOT or VERSION) and that the server allows the download.',
        cause: error.cause,
        details: { url: shownUrl },
      });
    }
    const bytesDone = this.#part.sidecar.bytesDone;
    if (failures >= this.settings.maxAttempts) {
      throw new AppError('media', `download of ${shownUrl} failed ${failures} times in a row: ${error.message}`, {
        hint: `The part is kept (${bytesDone} bytes); a restart resumes it.`,
        cause: error.cause,
        details: { url: shownUrl, bytesDone },
      });
    }
    const { maxDelayMs, baseDelayMs } = this.settings;
    const delay = Math.min(maxDelayMs, error.retryAfterMs ?? backoffDelay(failures, baseDelayMs, maxDelayMs, this.deps.random));
    this.log.warn({ reason: error.message, attempt: failures, delayMs: delay, bytesDone: this.#part.received }, 'download interrupted; retrying');
    try {
      await this.deps.sleep(delay, this.ctx.signal);
    } catch {
      this.#throwIfStopped();
    }
  }

  #throwIfStopped(): void {
    if (!this.ctx.signal.aborted) return;
    const { fileName } = this.settings;
    const bytesDone = this.#part.sidecar.bytesDone;
    throw new AppError('media', `download of ${fileName} stopped by request; ${bytesDone} bytes kept for resume`, {
      details: { file: fileName, bytesDone },
      // The stop request itself, so that the supervisor recognises a requested end.
      cause: this.ctx.signal.reason,
    });
  }

  /** One request; resolves when the part holds the whole file. */
  async #attempt(): Promise<void> {
    const offset = this.#part.received;
    const attempt = new AbortController();
    const signal = AbortSignal.any([this.ctx.signal, attempt.signal]);
    const idle = new IdleTimer(this.settings.idleTimeoutMs, () => attempt.abort(new Error('stalled')));
    let response: Response;
    try {
      response = await this.deps.fetch(this.settings.url, { headers: requestHeaders(this.#part.sidecar, offset), signal, redirect: 'follow' });
    } catch (error) {
      idle.stop();
      throw new AttemptError(`cannot reach ${new URL(this.settings.url).host}: ${describeFetchError(error)}`, true, undefined, { cause: error });
    }
    try {
      const decision = decideResponse({
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
        offset,
        sidecar: this.#part.sidecar,
        shownUrl: this.shownUrl,
        now: Date.now(),
      });
      await this.#act(decision, response, idle, signal);
    } finally {
      idle.stop();
      // An unread body keeps the connection busy: release it.
      await response.body?.cancel().catch(() => undefined);
    }
  }

  async #act(decision: ResponseDecision, response: Response, idle: IdleTimer, signal: AbortSignal): Promise<void> {
    if (decision.action === 'complete') return;
    if (decision.action === 'fail') throw new AttemptError(decision.reason, false);
    if ('discard' in decision && decision.discard) {
      this.log.warn(decision.discard.fields, decision.discard.message);
      await this.#part.discard();
    }
    if (decision.action === 'retry') throw new AttemptError(decision.reason, true, decision.retryAfterMs);

    const { total } = decision;
    this.#part.describe(decision.validators, total);
    if (total !== undefined) await this.#checkFreeSpace(total - this.#part.received);
    if (!response.body) throw new AttemptError('the server sent no body', true);
    await this.#stream(response.body, total, idle, signal);
    if (total !== undefined && this.#part.received < total) {
      throw new AttemptError(`the connection ended after ${this.#part.received} of ${total} bytes`, true);
    }
  }

  async #checkFreeSpace(needed: number): Promise<void> {
    const { dir, fileName } = this.settings;
    const free = await this.deps.freeBytes(dir);
    if (free < needed) throw new AttemptError(`not enough free space in ${dir} for ${fileName}: ${needed} bytes needed, ${free} free`, false);
  }

  /**
   * Streams the body into the part. The writer thread hashes and writes while the next bytes are
   * received; every `checkpointBytes` one checkpoint (fdatasync + sidecar) runs beside both.
   */
  async #stream(body: ReadableStream<Uint8Array>, total: number | undefined, idle: IdleTimer, signal: AbortSignal): Promise<void> {
    const part = this.#part;
    const writer = await part.writer();
    let sinceCheckpoint = 0;
    let checkpointing: Promise<void> | undefined;
    try {
      const reader = body.getReader();
      for (;;) {
        const chunk = await this.#read(reader, signal);
        if (chunk.done) break;
        idle.touch();
        const bytes = chunk.value;
        if (total !== undefined && part.received + bytes.length > total) {
          throw new AttemptError(`the server sent more than the ${total} bytes it announced`, true);
        }
        this.#fetched += bytes.length;
        sinceCheckpoint += bytes.length;
        part.append(writer, bytes);
        // One checkpoint at a time; a slow disk delays the next one rather than queueing them.
        if (sinceCheckpoint >= this.settings.checkpointBytes && !checkpointing) {
          sinceCheckpoint = 0;
          checkpointing = part.checkpoint().finally(() => (checkpointing = undefined));
          checkpointing.catch(() => undefined);
        }
        await writer.waitForRoom();
        this.#progress.update(part.received, total);
      }
    } catch (error) {
      throw error instanceof PartWriteError ? writeFailure(error, part.paths.partPath) : error;
    } finally {
      await checkpointing?.catch(() => undefined);
      await part.checkpoint();
    }
  }

  /** The next chunk; a broken or stalled connection is an attempt that may be retried. */
  async #read(reader: ReadableStreamDefaultReader<Uint8Array>, signal: AbortSignal): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>> {
    try {
      return await reader.read();
    } catch (error) {
      if (this.ctx.signal.aborted) throw error;
      const reason = signal.aborted ? `no data for ${this.settings.idleTimeoutMs} ms` : `the connection broke: ${describeFetchError(error)}`;
      throw new AttemptError(reason, true, undefined, { cause: error });
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

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

/** Calls `onIdle` when `touch` has not been called for `ms`. */
class IdleTimer {
  #timer: NodeJS.Timeout | undefined;
  constructor(
    readonly ms: number,
    readonly onIdle: () => void,
  ) {
    this.touch();
  }
  touch(): void {
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(this.onIdle, this.ms);
  }
  stop(): void {
    clearTimeout(this.#timer);
  }
}
