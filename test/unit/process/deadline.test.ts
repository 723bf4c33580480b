/** withDeadline, within, poll and waitForPath: each wait ends by its value, its deadline or its signal. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { poll, waitForPath, within, withDeadline } from '../../../src/process/deadline.js';

const never = new Promise<never>(() => {});

describe('withDeadline', () => {
  it('passes a value or an error through', async () => {
    expect(await withDeadline(Promise.resolve(7), 1_000, undefined, 'x')).toBe(7);
    const boom = new Error('boom');
    await expect(withDeadline(Promise.reject(boom), 1_000, undefined, 'x')).rejects.toBe(boom);
  });

  it('rejects with an AppError naming the wait when time runs out', async () => {
    const error = await withDeadline(never, 20, undefined, 'the QMP greeting').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as Error).message).toBe('the QMP greeting did not finish within 20 ms');
  });

  it('rejects with the given error factory, or with the signal reason on abort', async () => {
    const custom = new Error('custom');
    await expect(withDeadline(never, 20, undefined, () => custom)).rejects.toBe(custom);
    const reason = new Error('stop');
    const controller = new AbortController();
    const waiting = withDeadline(never, 60_000, controller.signal, 'x');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(withDeadline(Promise.resolve(1), 60_000, AbortSignal.abort(reason), 'x')).rejects.toBe(reason);
  });

  it('with a signal aborted already, the promise it was given may still fail later: that is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    try {
      const reason = new Error('stop');
      // What a caller passes: work started with the same signal, failing from its abort a moment later.
      const work = new Promise<never>((_, reject) => setTimeout(() => reject(reason), 5));
      await expect(withDeadline(work, 60_000, AbortSignal.abort(reason), 'x')).rejects.toBe(reason);
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled, String(unhandled)).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('within', () => {
  it('is the value, or undefined after the time or on abort, never a rejection', async () => {
    expect(await within(Promise.resolve('v'), 1_000)).toBe('v');
    expect(await within(never, 10)).toBeUndefined();
    expect(await within(Promise.reject(new Error('x')), 1_000)).toBeUndefined();
    expect(await within(never, 60_000, AbortSignal.abort())).toBeUndefined();
  });
});

describe('poll', () => {
  it('returns the first defined result, and ends with a check that throws', async () => {
    let n = 0;
    expect(await poll(async () => (++n >= 3 ? n : undefined), { timeoutMs: 5_000, intervalMs: 1, what: 'n' })).toBe(3);
    const broken = new Error('broken');
    await expect(poll(async () => Promise.reject(broken), { timeoutMs: 5_000, what: 'x' })).rejects.toBe(broken);
  });

  it('rejects naming what it waited for when time runs out', async () => {
    await expect(poll(async () => undefined, { timeoutMs: 30, intervalMs: 5, what: 'the thing' })).rejects.toThrow('the thing did not finish within 30 ms');
  });
});

describe('waitForPath', () => {
  it('resolves once a file appears, and with socket: true only for a socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'windock-wait-'));
    const file = join(dir, 'f');
    setTimeout(() => void writeFile(file, ''), 50);
    await waitForPath(file, { timeoutMs: 5_000 });
    await expect(waitForPath(file, { timeoutMs: 50, socket: true })).rejects.toThrow(`socket ${file} did not appear within 50 ms`);
    const socket = join(dir, 's');
    const server = createServer().listen(socket);
    try {
      await waitForPath(socket, { timeoutMs: 5_000, socket: true });
    } finally {
      server.close();
    }
  });

  it('rejects with the signal reason on abort', async () => {
    const reason = new Error('stop');
    const controller = new AbortController();
    const waiting = waitForPath('/nonexistent/windock-never', { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    await expect(waiting).rejects.toBe(reason);
  });
});
