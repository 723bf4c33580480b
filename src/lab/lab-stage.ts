/**
 * The lab features in the supervisor's run: the control socket (snapshots, reset), EPHEMERAL=Y's
 * throw-away session, and its golden snapshot. app.ts calls the three steps in order: `startLab`
 * once RUN_DIR exists, `prepare` once storage is ready, `attach` once QMP answers.
 */
import { join } from 'node:path';
import type { RunContext } from '../supervisor/context.js';
import { AppError } from '../core/errors.js';
import type { QmpClient } from '../qmp/client.js';
import type { DriveSpec } from '../qemu/vm-spec.js';
import type { PreparedStorage } from '../storage/prepare.js';
import type { QemuImg } from '../storage/qemu-img.js';
import { CONTROL_SOCKET, type ControlRequest } from './control-protocol.js';
import { startControlServer, type ControlServer } from './control-server.js';
import { applyEphemeral, planEphemeral } from './ephemeral.js';
import { snapshotTargets } from './snapshot-plan.js';
import { SnapshotController } from './snapshots.js';

export interface Lab {
  /** The control socket, a Resource for app.ts to close. */
  readonly server: ControlServer;
  /** The request handler behind the socket, also served to the viewer (snapshot-api.ts). */
  readonly handle: (request: ControlRequest) => Promise<unknown>;
  /** EPHEMERAL=Y: the session's storage (throw-away overlay and vars); else `storage` as it is. */
  prepare(storage: PreparedStorage, qemuImg: QemuImg): Promise<PreparedStorage>;
  /** QEMU arguments of the lab: `-S` under EPHEMERAL=Y (the golden snapshot is taken before the first instruction). */
  readonly qemuArgs: string[];
  /** QMP answers: snapshots become available; under EPHEMERAL=Y the golden snapshot is saved and the guest started. */
  attach(qmp: QmpClient, drives: readonly DriveSpec[]): Promise<void>;
}

export async function startLab(ctx: RunContext): Promise<Lab> {
  const log = ctx.log.child({ component: 'lab' });
  const ephemeral = ctx.config.ephemeral;
  let controller: SnapshotController | undefined;
  let unusable: AppError | undefined;

  const handle = async (request: ControlRequest): Promise<unknown> => {
    if (request.op === 'status') {
      return { phase: ctx.status.snapshot.phase, ephemeral, snapshots: controller !== undefined };
    }
    if (!controller) {
      throw unusable ?? new AppError('config', `the VM is not running (phase ${ctx.status.snapshot.phase}); snapshots need a running VM`, {
        hint: 'Wait until /health says running, then try again.',
      });
    }
    if (request.op === 'snapshot-list') return controller.list();
    // While stopping, the power-button wait owns the VM: a snapshot job would pause the guest in it.
    if (ctx.status.snapshot.phase !== 'running') {
      throw new AppError('config', `the VM is ${ctx.status.snapshot.phase}; ${request.op} needs it running`);
    }
    return controller.run(request);
  };
  const server = await startControlServer(join(ctx.config.runDir, CONTROL_SOCKET), handle, log);

  return {
    server,
    handle,
    qemuArgs: ephemeral ? ['-S'] : [],
    async prepare(storage, qemuImg) {
      if (!ephemeral) return storage;
      const plan = planEphemeral(ctx.config.storage, storage.drives, storage.firmware);
      await applyEphemeral(plan, qemuImg, ctx.signal);
      log.info({ overlay: plan.overlay.path, base: plan.overlay.base }, 'EPHEMERAL=Y: this session runs on a throw-away overlay; the disk stays as it is');
      return { ...storage, drives: plan.drives, firmware: plan.firmware };
    },
    async attach(qmp, drives) {
      qmp.once('close', () => {
        controller = undefined;
      });
      try {
        const targets = snapshotTargets(drives);
        controller = new SnapshotController({
          execute: (command, args, options) => qmp.execute(command, args, options),
          targets,
          mode: ephemeral ? 'ephemeral' : 'persistent',
          log,
        });
      } catch (error) {
        // A raw disk: the VM runs as before, snapshot requests get this error as their reply.
        unusable = error instanceof AppError ? error : undefined;
        log.info({ reason: (error as Error).message }, 'snapshots are not available for this VM');
      }
      if (!ephemeral) return;
      try {
        await controller?.saveGolden();
      } catch (error) {
        log.error({ err: (error as Error).message }, 'EPHEMERAL=Y: the golden snapshot could not be saved; windock reset will not work in this session');
      } finally {
        // -S held the guest before its first instruction; it must start whatever happened above.
        await qmp.execute('cont', undefined, { timeoutMs: 10_000 });
      }
    },
  };
}
