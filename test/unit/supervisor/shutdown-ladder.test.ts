/**
 * The shutdown ladder's bounds, with a scripted QEMU and QMP: a QEMU that not even SIGKILL ends
 * is reported killed with an unknown exit instead of hanging the stop, and no step waits longer
 * than its share of the budget that ladderWorstCaseMs promises.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/log.js';
import type { QmpClient } from '../../../src/qmp/client.js';
import type { QemuExit, QemuProcess } from '../../../src/qemu/process.js';
import { chooseLadder, DEFAULT_LADDER, IGNORED_BUTTON_GUEST_MS, ladderWorstCaseMs, runShutdownLadder, type LadderTimeouts } from '../../../src/supervisor/shutdown-ladder.js';

const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (_c, _e, done) => done() }) });

/** A QEMU that records the signals it gets and exits on the first one in `exitOn`. */
function qemu(exitOn: readonly string[]) {
  const signals: string[] = [];
  let end!: (exit: QemuExit) => void;
  const exited = new Promise<QemuExit>((resolve) => (end = resolve));
  const process: QemuProcess = {
    pid: 4242,
    exited,
    kill: (signal) => {
      signals.push(signal);
      if (exitOn.includes(signal)) end({ code: undefined, signal, stderrTail: [] });
    },
  };
  return { process, signals };
}

/** A QMP whose calls never answer; it records each call's timeout. */
function silentQmp() {
  const calls: { command: string; timeoutMs: number | undefined }[] = [];
  const qmp = {
    closed: false,
    execute: (command: string, _args: unknown, options: { timeoutMs?: number } = {}) => {
      calls.push({ command, timeoutMs: options.timeoutMs });
      return new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`${command} timed out`)), options.timeoutMs ?? 60_000));
    },
  };
  return { qmp: qmp as unknown as QmpClient, calls };
}

const fast: LadderTimeouts = { guestMs: 150, pressScheduleMs: [40], quitMs: 60, termMs: 60, killMs: 60 };

describe('runShutdownLadder bounds', () => {
  it('reports a QEMU that survives SIGKILL as killed with an unknown exit, instead of waiting forever', async () => {
    const q = qemu([]);
    const result = await runShutdownLadder({ qmp: undefined, qemu: q.process, timeouts: fast, hard: new AbortController().signal, log });
    expect(result).toMatchObject({ endedBy: 'kill', exit: undefined });
    expect(q.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('names SIGKILL when QEMU ignores SIGTERM, and SIGTERM when that was enough', async () => {
    const stubborn = qemu(['SIGKILL']);
    const killed = await runShutdownLadder({ qmp: undefined, qemu: stubborn.process, timeouts: fast, hard: new AbortController().signal, log });
    expect(killed).toMatchObject({ endedBy: 'kill', exit: { signal: 'SIGKILL' } });
    const polite = qemu(['SIGTERM']);
    const termed = await runShutdownLadder({ qmp: undefined, qemu: polite.process, timeouts: fast, hard: new AbortController().signal, log });
    expect(termed).toMatchObject({ endedBy: 'term', exit: { signal: 'SIGTERM' } });
    expect(polite.signals).toEqual(['SIGTERM']);
  });

  it('never gives a power-button press more time than the guest budget has left', async () => {
    const q = qemu(['SIGTERM']);
    const { qmp, calls } = silentQmp();
    const result = await runShutdownLadder({ qmp, qemu: q.process, timeouts: fast, hard: new AbortController().signal, log });
    expect(result.endedBy).toBe('term');
    const presses = calls.filter((c) => c.command === 'system_powerdown');
    expect(presses.length, JSON.stringify(calls)).toBeGreaterThan(0);
    for (const press of presses) expect(press.timeoutMs, JSON.stringify(calls)).toBeLessThanOrEqual(fast.guestMs);
    expect(calls.filter((c) => c.command === 'quit')).toEqual([{ command: 'quit', timeoutMs: fast.quitMs }]);
  });

  it('ladderWorstCaseMs is the guest budget plus quit, SIGTERM and SIGKILL: 8 s by default', () => {
    expect(ladderWorstCaseMs(110_000)).toBe(118_000);
    expect(ladderWorstCaseMs(0)).toBe(DEFAULT_LADDER.quitMs + DEFAULT_LADDER.termMs + DEFAULT_LADDER.killMs);
  });

  it('chooseLadder: the short guest wait only for a guest that ignores the button, never longer than SHUTDOWN_TIMEOUT', () => {
    const full = { ...DEFAULT_LADDER, guestMs: 110_000 };
    expect(chooseLadder(full, false)).toMatchObject({ name: 'full', timeouts: full });
    expect(chooseLadder(full, true)).toMatchObject({ name: 'short', timeouts: { ...full, guestMs: IGNORED_BUTTON_GUEST_MS } });
    // SHUTDOWN_TIMEOUT already shorter than the short wait: it stays as the user set it.
    expect(chooseLadder({ ...full, guestMs: 2_000 }, true)).toMatchObject({ name: 'full', timeouts: { guestMs: 2_000 } });
    expect(IGNORED_BUTTON_GUEST_MS).toBeLessThan(DEFAULT_LADDER.pressScheduleMs.reduce((a, b) => a + b, 0));
  });
});
