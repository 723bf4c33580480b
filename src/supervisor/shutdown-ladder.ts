/**
 * The stop ladder: ACPI power button (pressed again at a modest interval, since a guest early in
 * boot — firmware, or an OS before its ACPI daemon runs — misses a press) for up to
 * SHUTDOWN_TIMEOUT, then QMP `quit`, then SIGTERM, then SIGKILL. Each step is bounded and logged;
 * the total fits inside the container's stop grace period. A hard request (second signal) skips
 * straight to `quit`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { QmpClient } from '../qmp/client.js';
import type { QemuExit, QemuProcess } from '../qemu/process.js';

export interface LadderTimeouts {
  /** SHUTDOWN_TIMEOUT: how long the guest gets after the first press. */
  guestMs: number;
  /** Gaps between presses; the last one repeats. */
  pressScheduleMs: readonly number[];
  quitMs: number;
  termMs: number;
  killMs: number;
}

/** Margins after SHUTDOWN_TIMEOUT: quit 3 s, SIGTERM 3 s, SIGKILL 2 s — 8 s in all. */
export const DEFAULT_LADDER: Omit<LadderTimeouts, 'guestMs'> = {
  pressScheduleMs: [3_000, 3_000, 10_000],
  quitMs: 3_000,
  termMs: 3_000,
  killMs: 2_000,
};

/**
 * The longest the ladder can take for a SHUTDOWN_TIMEOUT: the guest's budget, a press call that
 * started just before it ran out (2 s), QMP quit's call and wait, SIGTERM's and SIGKILL's waits.
 */
export function ladderWorstCaseMs(guestMs: number, ladder: Omit<LadderTimeouts, 'guestMs'> = DEFAULT_LADDER): number {
  return guestMs + POWERDOWN_CALL_MS + 2 * ladder.quitMs + ladder.termMs + ladder.killMs;
}

/** How long one `system_powerdown` call may take. */
const POWERDOWN_CALL_MS = 2_000;

export type LadderStep = 'guest' | 'quit' | 'term' | 'kill';

export interface LadderResult {
  /** The step that ended QEMU; 'guest' means the guest powered itself off after the press. */
  endedBy: LadderStep;
  exit: QemuExit;
  elapsedMs: number;
}

export interface LadderInput {
  qmp: QmpClient | undefined;
  qemu: QemuProcess;
  timeouts: LadderTimeouts;
  /** Aborted by a second stop request: skip the wait for the guest. */
  hard: AbortSignal;
  log: Logger;
  now?: () => number;
}

export async function runShutdownLadder(input: LadderInput): Promise<LadderResult> {
  const { qmp, qemu, timeouts, hard, log } = input;
  const now = input.now ?? Date.now;
  const start = now();
  let exit: QemuExit | undefined;
  void qemu.exited.then((e) => (exit = e));
  const result = (endedBy: LadderStep, e: QemuExit): LadderResult => ({ endedBy, exit: e, elapsedMs: now() - start });

  // 1. The power button, until the guest is off, the budget is spent, or a hard stop is asked.
  if (qmp && !hard.aborted && timeouts.guestMs > 0) {
    const deadline = start + timeouts.guestMs;
    let press = 0;
    while (exit === undefined && !hard.aborted && now() < deadline) {
      press += 1;
      log.info({ step: 'powerdown', press, budgetMs: deadline - now() }, 'pressing the ACPI power button');
      await qmp.execute('system_powerdown', undefined, { timeoutMs: POWERDOWN_CALL_MS }).catch((error: Error) => {
        log.warn({ step: 'powerdown', err: error.message }, 'power button press failed');
      });
      const gap = timeouts.pressScheduleMs[Math.min(press - 1, timeouts.pressScheduleMs.length - 1)] ?? 10_000;
      await waitFor(qemu.exited, Math.min(gap, Math.max(0, deadline - now())), hard);
    }
    if (exit !== undefined) return result('guest', exit);
    log.warn({ step: 'powerdown', waitedMs: now() - start, hard: hard.aborted }, hard.aborted ? 'second stop request: forcing the stop' : 'the guest did not power off in time');
  }

  // 2. QMP quit: QEMU closes its disks cleanly, the guest loses only what it had not flushed.
  if (qmp && !qmp.closed && exit === undefined) {
    log.warn({ step: 'quit' }, 'asking QEMU to quit');
    await qmp.execute('quit', undefined, { timeoutMs: timeouts.quitMs }).catch(() => undefined);
    const e = await waitFor(qemu.exited, timeouts.quitMs);
    if (e) return result('quit', e);
  } else if (exit !== undefined) {
    return result('guest', exit);
  }

  // 3. SIGTERM: QEMU treats it like quit, for a QEMU whose monitor no longer answers.
  log.warn({ step: 'term', pid: qemu.pid }, 'sending SIGTERM to QEMU');
  qemu.kill('SIGTERM');
  const termed = await waitFor(qemu.exited, timeouts.termMs);
  if (termed) return result('term', termed);

  // 4. SIGKILL always ends it; the wait is only for the exit status.
  log.error({ step: 'kill', pid: qemu.pid }, 'sending SIGKILL to QEMU');
  qemu.kill('SIGKILL');
  const killed = await waitFor(qemu.exited, timeouts.killMs);
  return result('kill', killed ?? (await qemu.exited));
}

/** Resolves with the value if it settles within `ms`, else undefined; an abort ends the wait early. */
async function waitFor<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | undefined> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([promise, sleep(ms, undefined, { signal: controller.signal }).catch(() => undefined)]);
  } finally {
    controller.abort();
    signal?.removeEventListener('abort', onAbort);
  }
}
