/**
 * Bounded waits (house rule 7): every wait in windock has a deadline and an AbortSignal. This is
 * the project's one timed race (`withDeadline`, `within`) and its one poll loop (`poll`, and
 * `waitForPath` on top of it), so that no module grows its own setTimeout loop.
 */
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../core/errors.js';

/** What a timeout is called in its error ("the QMP greeting"), or the error itself. */
export type Deadline = string | (() => Error);

function timeoutError(what: Deadline, ms: number): Error {
  return typeof what === 'function'
    ? what()
    : new AppError('internal', `${what} did not finish within ${ms} ms`, { details: { what, timeoutMs: ms } });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * Settles like `promise`, or rejects after `ms` (an AppError naming `what`), or with the
 * signal's reason once `signal` aborts — whichever comes first. The promise itself runs on.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, signal: AbortSignal | undefined, what: Deadline): Promise<T> {
  if (signal?.aborted) {
    // The promise is already running (the caller made it to pass it here) and often fails from
    // the same abort: its rejection is expected, and left alone it would be an unhandled one,
    // which ends windock as an internal error (a SIGTERM during an HTTP read did exactly that).
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const settle = (action: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      action();
    };
    const onAbort = (): void => settle(() => reject(abortReason(signal!)));
    const timer = setTimeout(() => settle(() => reject(timeoutError(what, ms))), Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}

/**
 * The value if `promise` fulfils within `ms`, else undefined; an aborted `signal` ends the wait
 * early (undefined too). Never rejects: for waits whose timeout is an answer, not a failure.
 */
export async function within<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | undefined> {
  return withDeadline(promise, ms, signal, 'wait').catch(() => undefined);
}

export interface PollOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Pause between checks; 25 ms by default. */
  intervalMs?: number;
  /** Named in the timeout error, or the error to throw. */
  what: Deadline;
}

/**
 * Runs `check` until it returns a value (not undefined), then resolves with it. A check that
 * throws ends the poll with its error; time running out or an abort rejects.
 */
export async function poll<T>(check: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw timeoutError(options.what, options.timeoutMs);
    // An abort ends the pause; the check at the top of the loop then throws the signal's own reason.
    await sleep(Math.min(options.intervalMs ?? 25, left), undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
}

export interface WaitForPathOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  intervalMs?: number;
  /** Only a unix socket counts (a stale regular file of the same name does not). */
  socket?: boolean;
  /** Named in the timeout error; the path by default. */
  what?: Deadline;
}

/** Resolves once `path` exists (as a socket, with `socket: true`). */
export async function waitForPath(path: string, options: WaitForPathOptions): Promise<void> {
  const kind = options.socket ? 'socket' : 'file';
  await poll(
    async () => {
      const info = await stat(path).catch(() => undefined);
      return info && (!options.socket || info.isSocket()) ? true : undefined;
    },
    {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      intervalMs: options.intervalMs ?? 25,
      what:
        options.what ??
        (() => new AppError('internal', `${kind} ${path} did not appear within ${options.timeoutMs} ms`, { details: { path, timeoutMs: options.timeoutMs } })),
    },
  );
}
