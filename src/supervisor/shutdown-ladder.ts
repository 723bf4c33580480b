/**
 * The stop ladder: ACPI power button (pressed again at a modest interval, since a guest early in
 * boot — firmware, or an OS before its ACPI daemon runs — misses a press) for up to
 * SHUTDOWN_TIMEOUT, then QMP `quit`, then SIGTERM, then SIGKILL. Each step is bounded and logged;
 * the total fits inside the container's stop grace period. A hard request (second signal) skips
 * straight to `quit`.
 */
import type { Logger } from '../core/log.js';
import { within } from '../process/deadline.js';
import { helperStopWorstCaseMs } from '../process/helper.js';
import { terminate } from '../process/terminate.js';
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
 * The guest's wait when the guest profile says the guest does not act on the power button now
 * (Windows Setup's WinPE phase: setup.exe ignores the ACPI press, so the full SHUTDOWN_TIMEOUT
 * would only delay the `quit` that follows). A few seconds rather than none: the phase is read
 * from console lines, and a guest that has in fact got past it (a line missed, a guest that
 * answers after all) still gets the press and a moment to start powering off before QEMU quits —
 * which closes the disks in order either way.
 */
export const IGNORED_BUTTON_GUEST_MS = 5_000;

export interface ChosenLadder {
  name: 'full' | 'short';
  timeouts: LadderTimeouts;
  reason: string;
}

/** The ladder for this stop: the full wait, or the short one for a guest that ignores the button. */
export function chooseLadder(full: LadderTimeouts, guestIgnoresButton: boolean): ChosenLadder {
  if (!guestIgnoresButton || full.guestMs <= IGNORED_BUTTON_GUEST_MS) {
    return { name: 'full', timeouts: full, reason: 'the guest acts on the ACPI power button: it gets SHUTDOWN_TIMEOUT' };
  }
  return { name: 'short', timeouts: { ...full, guestMs: IGNORED_BUTTON_GUEST_MS }, reason: 'the guest ignores the ACPI power button now (guest profile): a short wait, then quit' };
}

/** The most a single `system_powerdown` call may wait for its answer (clamped to the budget left). */
const PRESS_TIMEOUT_MS = 2_000;

/**
 * The longest the ladder can take: every step is bounded by its own timeout and none overlaps
 * the next (a press is clamped to the guest budget, `quit`'s call and wait share quitMs, and
 * after SIGKILL the wait for the exit status ends after killMs). The documented margins
 * (README, compose.yml, kubernetes.yml, the Dockerfile) are checked against this in
 * test/unit/manifests.test.ts.
 */
export function ladderWorstCaseMs(guestMs: number, ladder: Omit<LadderTimeouts, 'guestMs'> = DEFAULT_LADDER): number {
  return guestMs + ladder.quitMs + ladder.termMs + ladder.killMs;
}

/**
 * What windock spends after the ladder before it exits: stopping the network helper (dnsmasq or
 * passt) and swtpm, each with the helper kill ladder (5 s grace, 2 s kill wait, 0.5 s drain), plus
 * an allowance of 10 s for removing the iptables rules and links and flushing the last log lines
 * (each is a few ms in practice; main.ts's exit backstop alone is 2 s).
 */
export const STOP_CLEANUP_MARGIN_MS = 2 * helperStopWorstCaseMs() + 10_000;

/** From the stop request to windock's exit, at most: the container's stop grace period must exceed it. */
export function stopWorstCaseMs(guestMs: number, ladder: Omit<LadderTimeouts, 'guestMs'> = DEFAULT_LADDER): number {
  return ladderWorstCaseMs(guestMs, ladder) + STOP_CLEANUP_MARGIN_MS;
}

export type LadderStep = 'guest' | 'quit' | 'term' | 'kill';

export interface LadderResult {
  /** The step that ended QEMU; 'guest' means the guest powered itself off after the press. */
  endedBy: LadderStep;
  /**
   * How QEMU exited; undefined when not even SIGKILL produced an exit status within killMs (a
   * process stuck in the kernel): the ladder reports it killed rather than waiting forever.
   */
  exit: QemuExit | undefined;
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
  const result = (endedBy: LadderStep, e: QemuExit | undefined): LadderResult => ({ endedBy, exit: e, elapsedMs: now() - start });

  // 1. The power button, until the guest is off, the budget is spent, or a hard stop is asked.
  if (qmp && !hard.aborted && timeouts.guestMs > 0) {
    const deadline = start + timeouts.guestMs;
    let press = 0;
    while (exit === undefined && !hard.aborted && now() < deadline) {
      press += 1;
      log.info({ step: 'powerdown', press, budgetMs: deadline - now() }, 'pressing the ACPI power button');
      // Clamped to the budget left, so that a monitor slow to answer cannot stretch the step.
      await qmp.execute('system_powerdown', undefined, { timeoutMs: Math.max(1, Math.min(PRESS_TIMEOUT_MS, deadline - now())) }).catch((error: Error) => {
        log.warn({ step: 'powerdown', err: error.message }, 'power button press failed');
      });
      const gap = timeouts.pressScheduleMs[Math.min(press - 1, timeouts.pressScheduleMs.length - 1)] ?? 10_000;
      await within(qemu.exited, Math.min(gap, Math.max(0, deadline - now())), hard);
    }
    if (exit !== undefined) return result('guest', exit);
    log.warn({ step: 'powerdown', waitedMs: now() - start, hard: hard.aborted }, hard.aborted ? 'second stop request: forcing the stop' : 'the guest did not power off in time');
  }

  // 2. QMP quit: QEMU closes its disks cleanly, the guest loses only what it had not flushed.
  if (qmp && !qmp.closed && exit === undefined) {
    log.warn({ step: 'quit' }, 'asking QEMU to quit');
    // The call and the wait for the exit share one quitMs.
    const quitDeadline = now() + timeouts.quitMs;
    await qmp.execute('quit', undefined, { timeoutMs: timeouts.quitMs }).catch(() => undefined);
    const e = await within(qemu.exited, Math.max(0, quitDeadline - now()));
    if (e) return result('quit', e);
  } else if (exit !== undefined) {
    return result('guest', exit);
  }

  // 3. SIGTERM: QEMU treats it like quit, for a QEMU whose monitor no longer answers.
  // 4. SIGKILL always ends it; the wait is only for the exit status, and bounded.
  log.warn({ step: 'term', pid: qemu.pid }, 'sending SIGTERM to QEMU');
  const ended = await terminate(qemu, {
    graceMs: timeouts.termMs,
    killWaitMs: timeouts.killMs,
    onKill: () => log.error({ step: 'kill', pid: qemu.pid }, 'sending SIGKILL to QEMU'),
  });
  if (ended.sent === 'SIGTERM') return result('term', ended.exit);
  if (!ended.exit) log.error({ step: 'kill', pid: qemu.pid, waitedMs: timeouts.killMs }, 'QEMU did not exit after SIGKILL; its exit status is unknown');
  return result('kill', ended.exit);
}
