/**
 * The snapshot adapter: runs the plan of snapshot-plan.ts against the running QEMU over QMP.
 * `snapshot-save`, `snapshot-load` and `snapshot-delete` are background jobs (qapi/job.json): the
 * command returns at once, the job concludes later, and its error (if any) is read from
 * `query-jobs` before it is dismissed. Every wait has a deadline. One operation at a time: a
 * second request while one runs is refused rather than queued, so no client waits unbounded.
 */
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ControlRequest } from './control-protocol.js';
import { GOLDEN_SNAPSHOT, planSnapshotRequest, snapshotsOf, type DiskMode, type SnapshotInfo, type SnapshotStep, type SnapshotTargets } from './snapshot-plan.js';

/** QMP `execute`, as the running QmpClient offers it. */
export type QmpExecute = (command: string, args?: Record<string, unknown>, options?: { timeoutMs?: number }) => Promise<unknown>;

export interface SnapshotControllerOptions {
  execute: QmpExecute;
  targets: SnapshotTargets;
  mode: DiskMode;
  log: Logger;
  /**
   * Deadline of one job. The VM state is written at disk speed, so it grows with RAM_SIZE: 10
   * minutes covers a busy 16G guest on a slow disk; a job past it is reported, not waited on.
   */
  jobTimeoutMs?: number;
  now?: () => Date;
}

const JOB_POLL_MS = 100;
const COMMAND_TIMEOUT_MS = 10_000;

export class SnapshotController {
  readonly #options: SnapshotControllerOptions;
  #busy: string | undefined;
  #jobs = 0;

  constructor(options: SnapshotControllerOptions) {
    this.#options = options;
  }

  get mode(): DiskMode {
    return this.#options.mode;
  }

  async list(): Promise<SnapshotInfo[]> {
    const nodes = await this.#options.execute('query-named-block-nodes', { flat: true }, { timeoutMs: COMMAND_TIMEOUT_MS });
    return snapshotsOf(nodes, this.#options.targets.vmstate);
  }

  /** Runs a save, delete, revert or reset; returns what was done, step by step. */
  async run(request: Extract<ControlRequest, { op: 'snapshot-save' | 'snapshot-delete' | 'snapshot-revert' | 'reset' }>): Promise<{ steps: SnapshotStep[] }> {
    return this.#exclusive(request.op, async () => {
      const steps = planSnapshotRequest(request, await this.list(), this.#options.mode, (this.#options.now ?? (() => new Date()))());
      for (const step of steps) await this.#apply(step);
      return { steps };
    });
  }

  /**
   * EPHEMERAL=Y: saves the golden snapshot while QEMU waits before its first instruction (-S),
   * so that `windock reset` is a power-on of the golden image without a new QEMU.
   */
  async saveGolden(): Promise<void> {
    await this.#exclusive('golden', () => this.#apply({ kind: 'save', name: GOLDEN_SNAPSHOT, reason: 'EPHEMERAL=Y: the state every reset goes back to' }));
  }

  async #exclusive<T>(what: string, action: () => Promise<T>): Promise<T> {
    if (this.#busy) {
      throw new AppError('config', `a snapshot operation (${this.#busy}) is under way; ${what} was not started`, { hint: 'Try again when it has finished.' });
    }
    this.#busy = what;
    try {
      return await action();
    } finally {
      this.#busy = undefined;
    }
  }

  async #apply(step: SnapshotStep): Promise<void> {
    const { targets, log } = this.#options;
    const started = Date.now();
    switch (step.kind) {
      case 'save':
        await this.#job('snapshot-save', { tag: step.name, vmstate: targets.vmstate, devices: targets.devices }, step.name);
        log.info({ snapshot: step.name, reason: step.reason, ms: Date.now() - started }, 'snapshot saved');
        break;
      case 'load':
        await this.#job('snapshot-load', { tag: step.name, vmstate: targets.vmstate, devices: targets.devices }, step.name);
        log.info({ snapshot: step.name, ms: Date.now() - started }, 'snapshot loaded: the guest runs on the saved state');
        break;
      case 'delete':
        await this.#job('snapshot-delete', { tag: step.name, devices: targets.devices }, step.name);
        log.info({ snapshot: step.name, ms: Date.now() - started }, 'snapshot deleted');
        break;
    }
  }

  async #job(command: 'snapshot-save' | 'snapshot-load' | 'snapshot-delete', args: Record<string, unknown>, name: string): Promise<void> {
    const { execute } = this.#options;
    const id = `windock-${command}-${++this.#jobs}`;
    try {
      await execute(command, { 'job-id': id, ...args }, { timeoutMs: COMMAND_TIMEOUT_MS });
    } catch (error) {
      // QEMU refused to start the job (a node without snapshot support, a migration blocker).
      throw new AppError('qemu', `QEMU refused the ${command} of snapshot ${JSON.stringify(name)}: ${(error as Error).message}`, { cause: error });
    }
    const deadline = Date.now() + (this.#options.jobTimeoutMs ?? 600_000);
    for (;;) {
      const jobs = (await execute('query-jobs', undefined, { timeoutMs: COMMAND_TIMEOUT_MS })) as { id: string; status: string; error?: string }[];
      const job = jobs.find((j) => j.id === id);
      if (!job || job.status === 'concluded' || job.status === 'null') {
        if (job) await execute('job-dismiss', { id }, { timeoutMs: COMMAND_TIMEOUT_MS }).catch(() => undefined);
        if (job?.error) {
          throw new AppError('qemu', `QEMU's ${command} of snapshot ${JSON.stringify(name)} failed: ${job.error}`, { details: { job: id } });
        }
        return;
      }
      if (Date.now() > deadline) {
        throw new AppError('qemu', `QEMU's ${command} of snapshot ${JSON.stringify(name)} did not finish within ${Math.round((this.#options.jobTimeoutMs ?? 600_000) / 1000)} s (job ${id} is ${job.status})`, {
          hint: 'See the log for QEMU\'s messages; the job keeps running in QEMU.',
        });
      }
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    }
  }
}
