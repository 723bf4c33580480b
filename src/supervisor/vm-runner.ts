/**
 * Runs one QEMU from launch to exit: connects QMP, keeps the guest state in the status store
 * from events, turns a stop request into the shutdown ladder, and decides the exit code:
 * 0 the guest powered off · 5 QEMU failed or crashed · 6 the guest ignored the power button.
 * A guest reboot (RESET) is logged and nothing more: Windows reboots several times while
 * installing.
 */
import { AppError, EXIT_CODES } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { QmpClient } from '../qmp/client.js';
import type { QmpEvent } from '../qmp/framing.js';
import { within } from '../process/deadline.js';
import type { QemuExit, QemuProcess } from '../qemu/process.js';
import { chooseLadder, runShutdownLadder, type LadderStep, type LadderTimeouts } from './shutdown-ladder.js';
import type { StatusStore } from './status.js';
import type { StopRequests } from './stop-requests.js';

export interface VmRunnerDeps {
  log: Logger;
  status: StatusStore;
  stop: StopRequests;
  launch: () => Promise<QemuProcess>;
  connectQmp: (signal: AbortSignal) => Promise<QmpClient>;
  ladder: LadderTimeouts;
  /** Asked when a stop begins: the guest does not act on the power button now (short ladder). */
  guestIgnoresPowerButton?: () => boolean;
  hooks?: RunHooks;
}

/** Reactions to the VM's life, one object built once by the run (supervisor.ts). */
export interface RunHooks {
  /** QEMU's process exists (the viewer can load now, off the critical path). */
  onQemuStarted?(qemu: QemuProcess): void;
  /** QMP answers and the guest runs (boot keys, network attach, readiness probes, …); `signal` ends with QEMU. */
  onRunning?(qmp: QmpClient, signal: AbortSignal): Promise<void> | void;
  /** A requested stop ended, after `seconds`, by this ladder step (metrics). */
  onStopped?(seconds: number, endedBy: LadderStep): void;
}

export interface VmOutcome {
  exitCode: number;
  /**
   * QEMU closed its disks in order: the guest powered off, or QEMU ended on `quit` or SIGTERM
   * (both flush and close the images). Not after SIGKILL or a crash.
   */
  disksClosed: boolean;
  reason: string;
}

/**
 * The QMP `SHUTDOWN` reason of a guest that powered itself off (qapi/run-state.json,
 * ShutdownCause). `guest-panic` is deliberately not one: a crashed guest must not end with exit 0,
 * or `restart: on-failure` would leave it down.
 */
const GUEST_SHUTDOWN_REASON = 'guest-shutdown';

export async function runVm(deps: VmRunnerDeps): Promise<VmOutcome> {
  const { log, status } = deps;
  const qmpLog = log.child({ component: 'qmp' });
  status.update({ phase: 'starting' });
  const qemu = await deps.launch();
  status.update({ qemuPid: qemu.pid });
  log.info({ pid: qemu.pid }, 'QEMU started');
  deps.hooks?.onQemuStarted?.(qemu);

  let guestPoweredOff = false;
  const runAbort = new AbortController();
  const exited = qemu.exited.finally(() => runAbort.abort());

  // QMP, unless QEMU dies first (bad arguments, missing KVM): then its stderr says why.
  let qmp: QmpClient;
  try {
    qmp = await Promise.race([deps.connectQmp(runAbort.signal), exited.then((exit) => Promise.reject(crashError(exit)))]);
  } catch (error) {
    qemu.kill('SIGKILL');
    // Bounded like the ladder's last step: a QEMU stuck in the kernel must not hang windock.
    await within(exited, deps.ladder.killMs);
    throw error instanceof AppError ? error : new AppError('qemu', `QEMU's monitor did not answer: ${(error as Error).message}`, { cause: error });
  }

  qmp.on('event', (event) => {
    onEvent(event, qmpLog, status);
    if (event.event === 'SHUTDOWN' && event.data?.['reason'] === GUEST_SHUTDOWN_REASON) guestPoweredOff = true;
  });
  try {
    const state = await qmp.execute<{ status: string }>('query-status', undefined, { timeoutMs: 5_000 });
    status.update({ phase: 'running', guestState: state.status });
    log.info({ guestState: state.status }, 'the VM is running');
    await deps.hooks?.onRunning?.(qmp, runAbort.signal);
  } catch (error) {
    if (!runAbort.signal.aborted) log.warn({ err: (error as Error).message }, 'could not read the guest state');
  }

  // Wait for the VM to end by itself, or for a stop request.
  const stopRequested = new Promise<void>((resolve) => {
    if (deps.stop.graceful.aborted) resolve();
    else deps.stop.graceful.addEventListener('abort', () => resolve(), { once: true });
  });
  const first = await Promise.race([exited.then((exit) => ({ exit })), stopRequested.then(() => ({ exit: undefined }))]);

  if (first.exit) {
    qmp.close();
    return endedByItself(first.exit, guestPoweredOff, log, status);
  }

  status.update({ phase: 'stopping' });
  log.info({ reason: String((deps.stop.graceful.reason as Error | undefined)?.message ?? 'stop') }, 'stopping the VM');
  const shutdownLog = log.child({ component: 'shutdown' });
  const chosen = chooseLadder(deps.ladder, deps.guestIgnoresPowerButton?.() ?? false);
  shutdownLog.info({ ladder: chosen.name, guestMs: chosen.timeouts.guestMs, reason: chosen.reason }, 'stop ladder chosen');
  const ladder = await runShutdownLadder({ qmp, qemu, timeouts: chosen.timeouts, hard: deps.stop.hard, log: shutdownLog });
  qmp.close();
  deps.hooks?.onStopped?.(ladder.elapsedMs / 1000, ladder.endedBy);
  if (ladder.endedBy === 'guest' && !guestPoweredOff && ladder.exit) {
    // QEMU went away during the wait without the guest's SHUTDOWN: a crash while stopping.
    return crashOutcome(ladder.exit, log, status);
  }
  status.update({ phase: 'stopped', qemuPid: undefined, guestState: 'shutdown' });
  if (ladder.endedBy === 'guest') {
    log.info({ elapsedMs: ladder.elapsedMs }, 'the guest powered off');
    return { exitCode: EXIT_CODES.ok, disksClosed: true, reason: 'the guest powered off after the power button' };
  }
  log.error({ endedBy: ladder.endedBy, elapsedMs: ladder.elapsedMs }, 'the guest ignored the power button and was stopped by force');
  return { exitCode: EXIT_CODES['forced-stop'], disksClosed: ladder.endedBy !== 'kill', reason: `the guest was stopped by force (${ladder.endedBy})` };
}

function endedByItself(exit: QemuExit, guestPoweredOff: boolean, log: Logger, status: StatusStore): VmOutcome {
  if (guestPoweredOff && exit.code === 0) {
    status.update({ phase: 'stopped', qemuPid: undefined, guestState: 'shutdown' });
    log.info('the guest powered itself off');
    return { exitCode: EXIT_CODES.ok, disksClosed: true, reason: 'the guest powered itself off' };
  }
  return crashOutcome(exit, log, status);
}

function crashOutcome(exit: QemuExit, log: Logger, status: StatusStore): VmOutcome {
  const error = crashError(exit);
  status.update({ phase: 'failed', qemuPid: undefined, error: { code: error.code, message: error.message } });
  log.error({ exitCode: exit.code, signal: exit.signal, stderr: exit.stderrTail }, error.message);
  return { exitCode: error.exitCode, disksClosed: false, reason: error.message };
}

/** Turns QEMU's exit into an error; a missing or unusable KVM is a host problem (exit 3). */
export function crashError(exit: QemuExit): AppError {
  const stderr = exit.stderrTail.join('\n');
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  if (/kvm/i.test(stderr) && /(could not access|failed to initiali[sz]e|no such file|permission denied|not supported)/i.test(stderr)) {
    return new AppError('host', `QEMU could not use KVM: ${lastLine(exit)}`, {
      hint: 'Pass the device with --device /dev/kvm (and enable virtualization in the host BIOS), or set KVM=N to accept a slow guest.',
      details: { stderr: exit.stderrTail },
    });
  }
  return new AppError('qemu', `QEMU ${how}: ${lastLine(exit) || 'no message'}`, { details: { stderr: exit.stderrTail } });
}

function lastLine(exit: QemuExit): string {
  return exit.stderrTail.filter((l) => l.trim()).at(-1) ?? '';
}

function onEvent(event: QmpEvent, log: Logger, status: StatusStore): void {
  log.info({ event: event.event, data: event.data }, 'QMP event');
  switch (event.event) {
    case 'STOP':
      status.update({ guestState: 'paused' });
      break;
    case 'RESUME':
      status.update({ guestState: 'running' });
      break;
    case 'RESET':
      // A reboot: the VM keeps running and the guest will answer again once it is back.
      status.update({ guestReachable: false });
      break;
    case 'SHUTDOWN':
      status.update({ guestState: 'shutdown' });
      break;
    case 'BLOCK_IO_ERROR':
      // QEMU stops the VM on a write that hit a full disk (werror=enospc, its default) instead
      // of failing the guest's write: nothing is lost, but the guest is frozen until there is room.
      if (event.data?.['nospace'] === true) {
        log.error({ device: event.data['device'] ?? event.data['node-name'], operation: event.data['operation'] }, 'STORAGE is full: QEMU paused the VM; free space there and restart the container');
        status.update({ error: { code: 'host', message: 'the disk is full; the VM is paused' } });
      } else {
        log.error({ device: event.data?.['device'] ?? event.data?.['node-name'], reason: event.data?.['reason'] }, 'disk I/O error');
      }
      break;
  }
}
