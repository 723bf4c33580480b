/**
 * The run's owner: the one holder of the status store's updater outside the VM runner (which is
 * part of it), so the phase, the guest's address and reachability and the run's error are written
 * here and nowhere else. Stages return data (the network its address) or report through the
 * callbacks handed out here (the download's progress); reactions to phases are one typed hooks
 * object given at construction. A helper's death aborts the supervisor's own `helperDied` signal
 * and stops the run through StopRequests.fail, which is not a user's request: a `docker stop`
 * that follows still gets the full power-button wait.
 */
import { AppError, EXIT_CODES, errorMessage, exitCodeOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { stopWorstCaseMs } from './shutdown-ladder.js';
import { downloadProgressTo, StatusStore, type DownloadProgress, type StatusView } from './status.js';
import { StopRequestedError, type StopRequests } from './stop-requests.js';
import { runVm, type RunHooks, type VmOutcome, type VmRunnerDeps } from './vm-runner.js';

export interface SupervisorHooks extends RunHooks {
  /** A download began: time for work off the critical path (the viewer's load). */
  onDownloading?(): void;
  /** QEMU is gone (however it ended), before the exit code is decided: record what the end says. */
  onEnded?(outcome: VmOutcome): Promise<void> | void;
}

export interface SupervisorOptions {
  log: Logger;
  stop: StopRequests;
  hooks?: SupervisorHooks;
  now?: () => Date;
}

export class Supervisor {
  readonly #status: StatusStore;
  readonly #log: Logger;
  readonly #stop: StopRequests;
  readonly #hooks: SupervisorHooks;
  readonly #helperDied = new AbortController();

  constructor(options: SupervisorOptions) {
    this.#status = new StatusStore(options.now);
    this.#log = options.log;
    this.#stop = options.stop;
    this.#hooks = options.hooks ?? {};
    this.#status.subscribe((s, previous) => {
      if (s.phase === previous.phase) return;
      this.#log.info({ phase: s.phase, from: previous.phase }, 'phase');
      if (s.phase === 'downloading') this.#hooks.onDownloading?.();
    });
    options.stop.graceful.addEventListener('abort', () => {
      if (options.stop.failure) this.#log.error({ err: options.stop.failure }, 'internal failure: stopping the VM');
    }, { once: true });
  }

  /** The status for /health, /metrics and the viewer (and the stages' context): read-only. */
  get status(): StatusView {
    return this.#status;
  }

  /** Aborted when a helper process died (never by a user's stop request). */
  get helperDied(): AbortSignal {
    return this.#helperDied.signal;
  }

  /** The stop budget follows SHUTDOWN_TIMEOUT: main's last-resort exit waits this long at most. */
  setShutdownTimeout(seconds: number): void {
    this.#stop.failureBudgetMs = stopWorstCaseMs(seconds * 1000);
  }

  /** The download's progress callback: `downloading` while bytes flow, `preparing` once done. */
  readonly downloadProgress: (progress: DownloadProgress | undefined) => void = (p) => downloadProgressTo(this.#status)(p);

  guestAddress(address: string | undefined): void {
    this.#status.update({ guestAddress: address });
  }

  guestReachable(reachable: boolean): void {
    this.#status.update({ guestReachable: reachable });
  }

  /** Watches the helpers (dnsmasq, passt, swtpm): the first death stops the run as a failure. */
  watchHelpers(deaths: readonly (Promise<Error> | undefined)[]): void {
    const watched = deaths.filter((d): d is Promise<Error> => d !== undefined);
    if (watched.length === 0) return;
    void Promise.race(watched).then((error) => {
      if (this.#stop.requested) return;
      this.#log.error({ err: error.message }, 'a helper process died; stopping the VM');
      this.#helperDied.abort(error);
      this.#status.update({ error: { code: 'internal', message: error.message } });
      this.#stop.fail(error);
    });
  }

  /** Runs QEMU to its end with this run's status, stop requests and hooks. */
  async runVm(deps: Omit<VmRunnerDeps, 'status' | 'stop' | 'hooks' | 'log'>): Promise<number> {
    const outcome: VmOutcome = await runVm({ ...deps, log: this.#log, status: this.#status, stop: this.#stop, hooks: this.#hooks });
    await this.#hooks.onEnded?.(outcome);
    // A VM stopped because a helper died or windock itself failed did not end well, however
    // cleanly it stopped.
    const failure = this.#stop.failure;
    const exitCode = failure ? EXIT_CODES.internal : outcome.exitCode;
    this.#log.info({ exitCode, reason: failure ? `internal failure: ${failure.message}` : outcome.reason }, 'windock is done');
    return exitCode;
  }

  /** The exit code of a run that threw: a stop before QEMU ran is a clean end (0). */
  failed(error: unknown): number {
    const log = this.#log;
    if (this.#stop.requested && isStopError(error)) {
      // A stop during preparation (a download, say) is a clean end: nothing ran yet — unless
      // what stopped it was a failure inside windock.
      if (this.#status.snapshot.phase !== 'stopped') this.#status.update({ phase: 'stopped' });
      log.info('stopped before the VM started');
      return this.#stop.failure ? EXIT_CODES.internal : EXIT_CODES.ok;
    }
    const code = exitCodeOf(error);
    if (error instanceof AppError) {
      log.error({ code: error.code, hint: error.hint, details: error.details, exitCode: code }, error.message);
    } else {
      log.error({ err: error, exitCode: code }, `internal error: ${errorMessage(error)}`);
    }
    const phase = this.#status.snapshot.phase;
    if (phase !== 'failed' && phase !== 'stopped') {
      this.#status.update({ phase: 'failed', error: { code: error instanceof AppError ? error.code : 'internal', message: errorMessage(error) } });
    }
    return code;
  }
}

/** Whether an error is (or was caused by) the stop request: walks the `cause` chain. */
function isStopError(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof StopRequestedError || e.name === 'AbortError') return true;
  }
  return false;
}
