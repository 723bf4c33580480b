/**
 * What every request of a download shares, with one connection (job.ts) or several
 * (parallel.ts): the error of one attempt, the idle timer that abandons a stalled body, reading
 * the next chunk, and the bounded retry with exponential back-off and full jitter ("Exponential
 * Backoff And Jitter", AWS Architecture Blog, 2015).
 */
import { AppError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { withDeadline } from '../../process/deadline.js';
import type { PartWriter } from '../part-writer.js';

/** Thrown inside an attempt; `retry` says whether another attempt may help. */
export class AttemptError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown; reset?: 'discard' | 'prefix' },
  ) {
    super(message, options);
    this.reset = options?.reset;
  }
  /**
   * What the part needs before the next attempt: `discard` (the file changed: nothing kept) or
   * `prefix` (the server ignores Range: one connection continues the durable prefix).
   */
  readonly reset: 'discard' | 'prefix' | undefined;
}

/** Full jitter: a random delay in [0, min(max, base·2^(n-1))], never below 10% of it. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.1 + 0.9 * random()));
}

export interface RetryPolicy {
  settings: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  random: () => number;
  log: Logger;
  shownUrl: string;
  /** The job's stop signal: a sleep it cuts short returns (the caller then stops). */
  signal: AbortSignal;
}

/**
 * After the `failures`-th failed attempt in a row: fails for good when the error or the count
 * says so (naming the bytes kept for a restart), else sleeps the back-off. `fields` go to the log.
 */
export async function waitBeforeRetry(policy: RetryPolicy, error: AttemptError, failures: number, bytesKept: number, fields: Record<string, unknown>): Promise<void> {
  const { shownUrl, settings } = policy;
  if (!error.retry) {
    throw new AppError('media', error.message, {
      hint: 'Check the URL (BOOT or VERSION) and that the server allows the download.',
      cause: error.cause,
      details: { url: shownUrl },
    });
  }
  if (failures >= settings.maxAttempts) {
    throw new AppError('media', `download of ${shownUrl} failed ${failures} times in a row: ${error.message}`, {
      hint: `The part is kept (${bytesKept} bytes); a restart resumes it.`,
      cause: error.cause,
      details: { url: shownUrl, bytesDone: bytesKept },
    });
  }
  const { maxDelayMs, baseDelayMs } = settings;
  const delay = Math.min(maxDelayMs, error.retryAfterMs ?? backoffDelay(failures, baseDelayMs, maxDelayMs, policy.random));
  policy.log.warn({ reason: error.message, attempt: failures, delayMs: delay, ...fields }, 'download interrupted; retrying');
  await policy.sleep(delay, policy.signal).catch(() => undefined);
}

export function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

/**
 * Why fetch refuses `url` before any request, when it does: a URL with a user name or password
 * (Fetch standard, "new Request": a TypeError whose message names the whole URL, credentials and
 * all, so it is never shown).
 */
export function credentialsRefusal(url: string): string | undefined {
  const parsed = new URL(url);
  return parsed.username || parsed.password ? 'the URL carries a user name or password, which HTTP requests here do not send' : undefined;
}

/** The error of a request that got no answer. */
export function unreachable(url: string, error: unknown): AttemptError {
  const refusal = credentialsRefusal(url);
  // Not retried, and without the cause: fetch's message holds the credentials.
  if (refusal) return new AttemptError(`cannot fetch ${new URL(url).host}: ${refusal}`, false);
  return new AttemptError(`cannot reach ${new URL(url).host}: ${describeFetchError(error)}`, true, undefined, { cause: error });
}

/**
 * The next chunk of a body; a broken or stalled connection is an attempt that may be retried.
 * `stop` is the job's stop signal (its abort is rethrown as it is), `signal` the attempt's.
 */
export async function readChunk(reader: ReadableStreamDefaultReader<Uint8Array>, stop: AbortSignal, signal: AbortSignal, idleTimeoutMs: number): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>> {
  try {
    return await reader.read();
  } catch (error) {
    if (stop.aborted) throw error;
    const reason = signal.aborted ? `no data for ${idleTimeoutMs} ms` : `the connection broke: ${describeFetchError(error)}`;
    throw new AttemptError(reason, true, undefined, { cause: error });
  }
}

/** Calls `onIdle` when `touch` has not been called for `ms`. */
export class IdleTimer {
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

/**
 * Waits until the writer takes more bytes, for at most `ms` (a disk that accepts nothing for
 * that long fails the download naming the part; the stop signal ends the wait at once).
 */
export async function roomToWrite(writer: Pick<PartWriter, 'waitForRoom' | 'full'>, ms: number, signal: AbortSignal, partPath: string): Promise<void> {
  // Most chunks find room: no timer for them (this runs once per chunk of every connection).
  if (!writer.full) return;
  await withDeadline(writer.waitForRoom(), ms, signal, () => new AppError('media', `cannot write ${partPath}: the disk took no bytes for ${ms} ms`, { hint: 'Check the health of the STORAGE volume.' }));
}
