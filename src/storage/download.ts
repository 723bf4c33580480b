/**
 * Resumable, verified downloads with the built-in `fetch`.
 *
 * - The body streams into `NAME.part`; a sidecar `NAME.part.json` holds the URL (without query:
 *   signed URLs carry tokens there), the validators (ETag, Last-Modified) and the bytes known to
 *   be on disk. The sidecar is rewritten at checkpoints, after an fdatasync of the part, so its
 *   `bytesDone` survives a SIGKILL or a power cut; a restart truncates the part to it and
 *   re-fetches at most one checkpoint interval.
 * - Resume sends `Range: bytes=N-` with `If-Range` (a strong ETag, else Last-Modified): a server
 *   whose file changed answers 200 with the whole new file (RFC 9110 §13.1.5), which restarts
 *   cleanly from 0, as does a server that ignores Range. A 206 whose Content-Range does not start
 *   at N is refused (RFC 9110 §14.4): appending it would corrupt the file.
 * - SHA-256 is computed while streaming, and the part is written, by a worker thread
 *   (part-writer.ts) beside the event loop that parses the body. Node's Hash cannot be
 *   serialized, so a resume re-hashes the bytes already in the part once before continuing.
 * - The digest is checked before the rename to the final name; a mismatch deletes the part and its
 *   sidecar (a file with the wrong digest is worth nothing) and fails with both digests.
 * - Transient failures (network errors, 408, 429, 5xx, a stalled body) are retried with
 *   exponential back-off and full jitter ("Exponential Backoff And Jitter", AWS Architecture
 *   Blog, 2015), a bounded number of times without progress; 401/403/404/410 fail at once.
 *
 * Everything that touches the outside comes in through `DownloadDeps`, for tests.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, open, readFile, statfs, unlink } from 'node:fs/promises';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DownloadProgress, StatusStore } from '../supervisor/status.js';
import { openPartWriter, PartWriteError, type PartWriter } from './part-writer.js';
import { writeFileAtomic } from './durable-file.js';

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
  status: StatusStore;
  signal: AbortSignal;
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

/** The sidecar next to the part: what the part is a prefix of. */
export interface PartSidecar {
  schema: 1;
  url: string;
  etag: string | undefined;
  lastModified: string | undefined;
  total: number | undefined;
  bytesDone: number;
}

const DEFAULTS = {
  maxAttempts: 6,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  idleTimeoutMs: 60_000,
  // Each checkpoint is a device cache flush: measured with 1 GiB downloads on this project's
  // machines, 64 MiB between them took 1.9 s where 16 MiB took 2.4 s (curl + fdatasync: 2.1 s).
  checkpointBytes: 64 * 2 ** 20,
  logEveryPercent: 5,
};

/** HTTP statuses worth another try (RFC 9110 §15.5.9 408, RFC 6585 §4 429, and 5xx). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** "bytes 100-199/1000" → { start: 100, end: 199, total: 1000 } (RFC 9110 §14.4). */
export function parseContentRange(header: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? undefined : Number(match[3]) };
}

/** `If-Range` needs a strong validator: a weak ETag (W/"...") must not be used (RFC 9110 §13.1.5). */
export function ifRangeValue(sidecar: Pick<PartSidecar, 'etag' | 'lastModified'>): string | undefined {
  if (sidecar.etag && !sidecar.etag.startsWith('W/')) return sidecar.etag;
  return sidecar.lastModified;
}

/** Full jitter: a random delay in [0, min(max, base·2^(n-1))], never below 10% of it. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.1 + 0.9 * random()));
}

function publicUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
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

export async function download(
  ctx: DownloadContext,
  options: DownloadOptions,
  deps: DownloadDeps = defaultDownloadDeps(),
): Promise<DownloadResult> {
  const settings: Settings = { ...DEFAULTS, ...stripUndefined(options), url: options.url, dir: options.dir, fileName: options.fileName };
  const shownUrl = publicUrl(options.url);
  const log = ctx.log.child({ component: 'download', file: options.fileName });
  const finalPath = join(options.dir, options.fileName);
  const partPath = `${finalPath}.part`;
  const sidecarPath = `${partPath}.json`;

  const existing = await fileSize(finalPath);
  if (existing !== undefined) {
    const digest = await hashFile(finalPath, existing);
    if (options.sha256 && digest !== options.sha256) {
      throw new AppError('media', `${finalPath} exists but its SHA-256 is ${digest}, expected ${options.sha256}`, {
        hint: 'windock does not delete files in STORAGE: move the file away to download it again.',
        details: { file: options.fileName, expected: options.sha256, actual: digest },
      });
    }
    log.info({ sha256: digest, bytes: existing }, 'already downloaded');
    return { path: finalPath, sha256: digest, bytes: existing, fetchedBytes: 0, downloaded: false };
  }

  const job = new DownloadJob(ctx, settings, deps, log, { url: options.url, shownUrl, partPath, sidecarPath, fileName: options.fileName, dir: options.dir });
  return job.run(finalPath);
}

type Settings = typeof DEFAULTS & DownloadOptions;

interface JobPaths {
  url: string;
  shownUrl: string;
  partPath: string;
  sidecarPath: string;
  fileName: string;
  dir: string;
}

class DownloadJob {
  /** Opened at the first byte to write (a refused download creates no part). */
  #writer: PartWriter | undefined;
  #sidecar: PartSidecar;
  /** Bytes of the file received so far (handed to the writer; may run ahead of the disk). */
  #written = 0;
  #fetched = 0;
  #lastLoggedStep = -1;
  #rate = new RateMeter();
  #lastStatusAt = -Infinity;

  constructor(
    readonly ctx: DownloadContext,
    readonly settings: Settings,
    readonly deps: DownloadDeps,
    readonly log: Logger,
    readonly paths: JobPaths,
  ) {
    this.#sidecar = { schema: 1, url: paths.shownUrl, etag: undefined, lastModified: undefined, total: undefined, bytesDone: 0 };
  }

  async run(finalPath: string): Promise<DownloadResult> {
    try {
      return await this.#run(finalPath);
    } finally {
      await this.#writer?.close();
    }
  }

  /** The writer on the part, keeping (and hashing) the bytes received so far. */
  async #openWriter(): Promise<PartWriter> {
    this.#writer ??= await openPartWriter(this.paths.partPath, { keep: this.#written }).catch((error: unknown) => {
      throw this.#writeFailure(error);
    });
    return this.#writer;
  }

  #writeFailure(error: unknown, path = this.paths.partPath): AppError {
    return new AppError('media', `cannot write ${path}: ${(error as Error).message}`, {
      hint: 'Check the free space and health of the STORAGE volume.',
      cause: error,
    });
  }

  async #run(finalPath: string): Promise<DownloadResult> {
    await this.#loadPart();
    let failures = 0;
    for (;;) {
      this.#throwIfStopped();
      const before = this.#written;
      try {
        const complete = await this.#attempt();
        if (complete) break;
      } catch (error) {
        if (this.ctx.signal.aborted) {
          await this.#checkpoint().catch(() => undefined);
          this.#throwIfStopped();
        }
        if (!(error instanceof AttemptError)) throw error;
        if (!error.retry) {
          throw new AppError('media', error.message, {
            hint: 'Check the URL (BOOT or VERSION) and that the server allows the download.',
            cause: error.cause,
            details: { url: this.paths.shownUrl },
          });
        }
        // An attempt that moved the download forward starts a fresh series of retries.
        failures = this.#written > before ? 1 : failures + 1;
        if (failures >= this.settings.maxAttempts) {
          throw new AppError('media', `download of ${this.paths.shownUrl} failed ${failures} times in a row: ${error.message}`, {
            hint: `The part is kept (${this.#sidecar.bytesDone} bytes); a restart resumes it.`,
            cause: error.cause,
            details: { url: this.paths.shownUrl, bytesDone: this.#sidecar.bytesDone },
          });
        }
        const delay = Math.min(
          this.settings.maxDelayMs,
          error.retryAfterMs ?? backoffDelay(failures, this.settings.baseDelayMs, this.settings.maxDelayMs, this.deps.random),
        );
        this.log.warn({ reason: error.message, attempt: failures, delayMs: delay, bytesDone: this.#written }, 'download interrupted; retrying');
        try {
          await this.deps.sleep(delay, this.ctx.signal);
        } catch {
          this.#throwIfStopped();
        }
      }
    }
    return this.#finish(finalPath);
  }

  #throwIfStopped(): void {
    if (!this.ctx.signal.aborted) return;
    throw new AppError('media', `download of ${this.paths.fileName} stopped by request; ${this.#sidecar.bytesDone} bytes kept for resume`, {
      details: { file: this.paths.fileName, bytesDone: this.#sidecar.bytesDone },
      // The stop request itself, so that the supervisor recognises a requested end.
      cause: this.ctx.signal.reason,
    });
  }

  /** Adopts an existing part when its sidecar matches this URL and it can be validated. */
  async #loadPart(): Promise<void> {
    const size = await fileSize(this.paths.partPath);
    if (size === undefined) return;
    let sidecar: PartSidecar | undefined;
    try {
      sidecar = JSON.parse(await readFile(this.paths.sidecarPath, 'utf8')) as PartSidecar;
    } catch {
      sidecar = undefined;
    }
    const reason = !sidecar
      ? 'no sidecar'
      : sidecar.url !== this.paths.shownUrl
        ? 'the part belongs to another URL'
        : !ifRangeValue(sidecar)
          ? 'the server gave no strong validator to resume against'
          : size < sidecar.bytesDone
            ? 'the part is shorter than its sidecar says'
            : undefined;
    if (reason || !sidecar) {
      this.log.info({ reason }, 'starting the download from the beginning');
      await this.#truncate(0);
      return;
    }
    this.#sidecar = { ...sidecar };
    this.#written = sidecar.bytesDone;
    // Bytes past the last checkpoint may be torn (power cut): the writer cuts the part back to
    // the durable length and hashes what is kept (Node's Hash state cannot be saved).
    await this.#openWriter();
    this.log.info({ bytesDone: sidecar.bytesDone, total: sidecar.total }, 'resuming the download');
  }

  async #truncate(length: 0): Promise<void> {
    await this.#writer?.close();
    this.#writer = undefined;
    // Now, although the next writer cuts the part to 0 as well: the free-space check for the new
    // file comes first and must count the old bytes as free.
    await truncateFile(this.paths.partPath, length);
    this.#written = 0;
    this.#sidecar = { ...this.#sidecar, etag: undefined, lastModified: undefined, total: undefined, bytesDone: 0 };
  }

  /** One request. Resolves true when the part holds the whole file. */
  async #attempt(): Promise<boolean> {
    const offset = this.#written;
    const headers: Record<string, string> = {
      // Bytes as stored on the server: no transparent decompression (which would also make
      // Range offsets meaningless).
      'accept-encoding': 'identity',
    };
    const validator = ifRangeValue(this.#sidecar);
    if (offset > 0 && validator) {
      headers['range'] = `bytes=${offset}-`;
      headers['if-range'] = validator;
    }
    const attempt = new AbortController();
    const signal = AbortSignal.any([this.ctx.signal, attempt.signal]);
    const idle = new IdleTimer(this.settings.idleTimeoutMs, () => attempt.abort(new Error('stalled')));
    let response: Response;
    try {
      response = await this.deps.fetch(this.paths.url, { headers, signal, redirect: 'follow' });
    } catch (error) {
      idle.stop();
      throw new AttemptError(`cannot reach ${new URL(this.paths.url).host}: ${describeFetchError(error)}`, true, undefined, { cause: error });
    }
    try {
      return await this.#handle(response, offset, idle, signal);
    } finally {
      idle.stop();
      // An unread body keeps the connection busy: release it.
      await response.body?.cancel().catch(() => undefined);
    }
  }

  async #handle(response: Response, offset: number, idle: IdleTimer, signal: AbortSignal): Promise<boolean> {
    const status = response.status;
    const etag = response.headers.get('etag') ?? undefined;
    const lastModified = response.headers.get('last-modified') ?? undefined;
    if (status === 416 && offset > 0) {
      // Asked beyond the end: the part may already be complete (killed before the rename).
      const range = /^bytes \*\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
      if (range && Number(range[1]) === offset && (this.#sidecar.total === undefined || this.#sidecar.total === offset)) return true;
      this.log.warn({ status }, 'the server refused the resume range; starting from the beginning');
      await this.#truncate(0);
      throw new AttemptError('range not satisfiable', true, 0);
    }
    if (status === 401 || status === 403 || status === 404 || status === 410) {
      const words = { 401: 'asks for credentials (401)', 403: 'refused access (403 Forbidden)', 404: 'has no such file (404 Not Found)', 410: 'no longer has the file (410 Gone)' }[status];
      throw new AttemptError(`the server ${words} for ${this.paths.shownUrl}`, false);
    }
    if (isRetryableStatus(status)) {
      throw new AttemptError(`the server answered ${status} ${response.statusText}`.trim(), true, retryAfterMs(response.headers.get('retry-after')));
    }
    if (status !== 200 && status !== 206) {
      throw new AttemptError(`the server answered ${status} ${response.statusText} for ${this.paths.shownUrl}`.trim(), false);
    }

    let total: number | undefined;
    if (status === 206) {
      const range = parseContentRange(response.headers.get('content-range'));
      if (!range || range.start !== offset) {
        throw new AttemptError(
          `the server answered a request for bytes from ${offset} with Content-Range ${JSON.stringify(response.headers.get('content-range'))}; refusing to splice it`,
          false,
        );
      }
      // A 206 carrying another validator than the part's came from another version of the file.
      if ((this.#sidecar.etag && etag && etag !== this.#sidecar.etag) || (!this.#sidecar.etag && this.#sidecar.lastModified && lastModified && lastModified !== this.#sidecar.lastModified)) {
        this.log.warn({ before: this.#sidecar.etag ?? this.#sidecar.lastModified, now: etag ?? lastModified }, 'the file changed on the server; starting from the beginning');
        await this.#truncate(0);
        throw new AttemptError('the file changed on the server', true, 0);
      }
      total = range.total;
    } else {
      if (offset > 0) {
        this.log.warn(
          { bytesDone: offset, reason: validatorChanged(this.#sidecar, etag, lastModified) ? 'the file changed on the server' : 'the server ignores Range' },
          'the server sent the whole file; starting from the beginning',
        );
        await this.#truncate(0);
      }
      const length = response.headers.get('content-length');
      total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    }
    this.#sidecar = { ...this.#sidecar, etag, lastModified, total: total ?? this.#sidecar.total };

    if (total !== undefined) {
      const needed = total - this.#written;
      const free = await this.deps.freeBytes(this.paths.dir);
      if (free < needed) {
        throw new AttemptError(
          `not enough free space in ${this.paths.dir} for ${this.paths.fileName}: ${needed} bytes needed, ${free} free`,
          false,
        );
      }
    }
    if (!response.body) throw new AttemptError('the server sent no body', true);
    await this.#stream(response.body, total, idle, signal);
    if (total !== undefined && this.#written < total) {
      throw new AttemptError(`the connection ended after ${this.#written} of ${total} bytes`, true);
    }
    return true;
  }

  /**
   * Streams the body into the part. The writer thread hashes and writes while the next bytes are
   * received; every `checkpointBytes` one checkpoint (fdatasync + sidecar) runs beside both.
   */
  async #stream(body: ReadableStream<Uint8Array>, total: number | undefined, idle: IdleTimer, signal: AbortSignal): Promise<void> {
    const writer = await this.#openWriter();
    let sinceCheckpoint = 0;
    let checkpointing: Promise<void> | undefined;
    try {
      const reader = body.getReader();
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (this.ctx.signal.aborted) throw error;
          const stalled = signal.aborted;
          throw new AttemptError(stalled ? `no data for ${this.settings.idleTimeoutMs} ms` : `the connection broke: ${describeFetchError(error)}`, true, undefined, { cause: error });
        }
        if (chunk.done) break;
        idle.touch();
        const bytes = chunk.value;
        if (total !== undefined && this.#written + bytes.length > total) {
          throw new AttemptError(`the server sent more than the ${total} bytes it announced`, true);
        }
        this.#written += bytes.length;
        this.#fetched += bytes.length;
        sinceCheckpoint += bytes.length;
        writer.append(bytes);
        // One checkpoint at a time; a slow disk delays the next one rather than queueing them.
        if (sinceCheckpoint >= this.settings.checkpointBytes && !checkpointing) {
          sinceCheckpoint = 0;
          checkpointing = this.#checkpoint().finally(() => (checkpointing = undefined));
          checkpointing.catch(() => undefined);
        }
        await writer.waitForRoom();
        this.#progress(total);
      }
    } catch (error) {
      throw error instanceof PartWriteError ? this.#writeFailure(error) : error;
    } finally {
      await checkpointing?.catch(() => undefined);
      await this.#checkpoint();
    }
  }

  /** Makes every byte received so far durable, then records it in the sidecar. */
  async #checkpoint(): Promise<void> {
    if (!this.#writer) return;
    let durable: number;
    try {
      durable = await this.#writer.sync();
    } catch (error) {
      throw this.#writeFailure(error);
    }
    try {
      await this.#recordCheckpoint(durable);
    } catch (error) {
      throw this.#writeFailure(error, this.paths.sidecarPath);
    }
  }

  /** The sidecar only ever names bytes that an fdatasync has made durable. */
  async #recordCheckpoint(durable: number): Promise<void> {
    this.#sidecar = { ...this.#sidecar, bytesDone: durable };
    await writeFileAtomic(this.paths.sidecarPath, `${JSON.stringify(this.#sidecar)}\n`);
  }

  #progress(total: number | undefined): void {
    const now = this.deps.now();
    const percentStep = total ? Math.floor((this.#written / total) * 100 / this.settings.logEveryPercent) : Math.floor(this.#written / (this.settings.checkpointBytes * 10));
    const done = total !== undefined && this.#written === total;
    if (now - this.#lastStatusAt < 250 && percentStep === this.#lastLoggedStep && !done) return;
    this.#lastStatusAt = now;
    this.#rate.add(now, this.#written);
    const rate = this.#rate.bytesPerSecond();
    const progress: DownloadProgress = {
      file: this.paths.fileName,
      bytesDone: this.#written,
      bytesTotal: total,
      bytesPerSecond: Math.round(rate),
      etaSeconds: total !== undefined && rate > 0 ? Math.round((total - this.#written) / rate) : undefined,
    };
    this.ctx.status.update({ phase: 'downloading', download: progress });
    if (percentStep !== this.#lastLoggedStep) {
      this.#lastLoggedStep = percentStep;
      this.log.info(
        { ...progress, percent: total ? Math.floor((this.#written / total) * 100) : undefined },
        'downloading',
      );
    }
  }

  async #finish(finalPath: string): Promise<DownloadResult> {
    // A part found complete (416 on resume) has not been opened in this run yet.
    const writer = await this.#openWriter();
    let digest: string;
    try {
      digest = await writer.digest();
    } catch (error) {
      throw this.#writeFailure(error);
    } finally {
      await writer.close();
    }
    const expected = this.settings.sha256;
    if (expected && digest !== expected) {
      // Nothing is kept: bytes with the wrong digest cannot be resumed into the right file.
      await unlink(this.paths.partPath).catch(() => undefined);
      await unlink(this.paths.sidecarPath).catch(() => undefined);
      throw new AppError('media', `${this.paths.fileName} from ${this.paths.shownUrl} has SHA-256 ${digest}, expected ${expected}`, {
        hint: 'The download was deleted. Check BOOT_SHA256 against the publisher, or the URL.',
        details: { file: this.paths.fileName, expected, actual: digest },
      });
    }
    // link(2) never replaces: a final file that appeared meanwhile is kept and reported.
    try {
      await link(this.paths.partPath, finalPath);
    } catch (error) {
      throw new AppError('media', `cannot move ${this.paths.partPath} to ${finalPath}: ${(error as Error).message}`, { cause: error });
    }
    await unlink(this.paths.partPath);
    await unlink(this.paths.sidecarPath).catch(() => undefined);
    await syncDir(this.paths.dir);
    this.ctx.status.update({ phase: 'preparing', download: undefined });
    this.log.info({ sha256: digest, bytes: this.#written, fetched: this.#fetched, verified: expected !== undefined }, 'download complete');
    return { path: finalPath, sha256: digest, bytes: this.#written, fetchedBytes: this.#fetched, downloaded: true };
  }
}

function validatorChanged(sidecar: PartSidecar, etag: string | undefined, lastModified: string | undefined): boolean {
  if (sidecar.etag && etag) return sidecar.etag !== etag;
  if (sidecar.lastModified && lastModified) return sidecar.lastModified !== lastModified;
  return false;
}

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const handle = await open(path, 'r');
    try {
      return (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function truncateFile(path: string, length: number): Promise<void> {
  const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o600);
  try {
    await handle.truncate(length);
  } finally {
    await handle.close();
  }
}

/** SHA-256 of the first `length` bytes of a file. */
async function hashFile(path: string, length: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 * 2 ** 20);
    let position = 0;
    while (position < length) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Rate over the last few seconds (a sliding window of samples). */
class RateMeter {
  #samples: { at: number; bytes: number }[] = [];
  add(at: number, bytes: number): void {
    this.#samples.push({ at, bytes });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > 5000) this.#samples.shift();
  }
  bytesPerSecond(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
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
