/**
 * A TPM 2.0 for the guest: swtpm as a supervised foreground child (never `--daemon`), its state
 * in STORAGE/tpm so that the guest's keys (BitLocker, Windows Hello, the TPM-bound identity)
 * survive restarts, its control socket in RUN_DIR. QEMU connects to the socket through
 * `-chardev socket … -tpmdev emulator …` (QEMU docs/specs/tpm.rst, "The QEMU TPM emulator
 * device"); the argv builder does that from `VmSpec.tpmSocket`.
 *
 * `--terminate` makes swtpm exit when QEMU's connection goes away, so a crashed supervisor never
 * leaves a TPM behind; `close()` stops it in any case.
 */
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resource, RunContext } from '../supervisor/context.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_STOP_GRACE_MS, programMissing, startHelper } from '../process/helper.js';

export interface TpmSession extends Resource {
  /** The control socket QEMU's `-chardev socket,path=…` connects to. */
  readonly socket: string;
  /** The state directory (in STORAGE). */
  readonly stateDir: string;
  readonly pid: number;
  /** Resolves (never rejects) with the reason when swtpm ends without close() having been called. */
  readonly died: Promise<Error>;
}

export interface TpmDeps {
  /** The swtpm program; Debian package "swtpm". */
  program: string;
  /** How long swtpm gets to create its socket. */
  startTimeoutMs: number;
  /** How long close() waits after SIGTERM before SIGKILL. */
  stopTimeoutMs: number;
}

// The stop grace is the helpers' default: the stop budget (STOP_CLEANUP_MARGIN_MS) counts on it.
export const DEFAULT_TPM_DEPS: TpmDeps = { program: 'swtpm', startTimeoutMs: 10_000, stopTimeoutMs: DEFAULT_STOP_GRACE_MS };

export const TPM_STATE_DIR = 'tpm';
export const TPM_SOCKET = 'swtpm.sock';
/** RUN_DIR's link to STORAGE/tpm: swtpm is given names relative to RUN_DIR (see startTpm). */
const TPM_STATE_LINK = 'tpm-state';

/** The argv, pure: what runs is exactly this list. */
export function swtpmArgs(stateDir: string, socket: string): string[] {
  return [
    'socket',
    '--tpm2',
    // State files 0600: they hold the guest's TPM secrets.
    '--tpmstate', `dir=${stateDir},mode=0600`,
    '--ctrl', `type=unixio,path=${socket},mode=0600`,
    '--terminate',
    // Log to the console (windock reads swtpm's stdout and stderr into its own log). Not
    // `fd=2`: swtpm 0.7 exits with status 1 when given its own stderr as log fd.
    '--log', 'level=1',
  ];
}

export async function startTpm(
  ctx: Pick<RunContext, 'config' | 'log' | 'signal'>,
  deps: TpmDeps = DEFAULT_TPM_DEPS,
): Promise<TpmSession> {
  const log = ctx.log.child({ component: 'swtpm' });
  const stateDir = join(ctx.config.storage, TPM_STATE_DIR);
  const socket = join(ctx.config.runDir, TPM_SOCKET);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await mkdir(ctx.config.runDir, { recursive: true, mode: 0o700 });
  // A socket left by a crashed run would make "the socket exists" mean nothing (house rule 9).
  await rm(socket, { force: true });
  // swtpm splits its options on commas and has no escape for one (`dir=/a,b` is refused), so it
  // runs in RUN_DIR and gets names without a directory: a comma in STORAGE or RUN_DIR cannot reach it.
  const link = join(ctx.config.runDir, TPM_STATE_LINK);
  await rm(link, { force: true });
  await symlink(stateDir, link);
  ctx.signal.throwIfAborted();

  const helper = startHelper({
    name: 'swtpm',
    argv: [deps.program, ...swtpmArgs(TPM_STATE_LINK, TPM_SOCKET)],
    cwd: ctx.config.runDir,
    log,
    onLine: (line) => log.debug({ line }, 'swtpm output'),
    errorCode: 'host',
  });
  const died = helper.died.then(
    (error) =>
      new AppError('qemu', `swtpm (the guest's TPM) ended: ${error.message}`, {
        hint: 'The guest lost its TPM; windock stops the VM. Check the swtpm lines in the debug log (DEBUG=Y).',
        details: { stateDir },
        cause: error,
      }),
  );

  try {
    await helper.waitForPath(socket, { timeoutMs: deps.startTimeoutMs, signal: ctx.signal, socket: true });
  } catch (error) {
    const exit = await helper.stop(deps.stopTimeoutMs);
    await rm(socket, { force: true });
    if (exit && programMissing(exit)) {
      throw new AppError('host', `swtpm is needed for BOOT_MODE=secure (a TPM 2.0) but cannot be started: ${(error as Error).message}`, {
        hint: 'Install the Debian package "swtpm", or set BOOT_MODE=uefi (Windows 11 then installs with its TPM check bypassed).',
        cause: error,
      });
    }
    if (error instanceof AppError && error.details?.['helper'] === 'swtpm') {
      throw new AppError('host', error.message, {
        hint: "Run with DEBUG=Y to see swtpm's own message (a locked or unwritable STORAGE/tpm is the usual cause).",
        cause: error,
        details: { socket, output: error.details['output'] },
      });
    }
    throw error;
  }
  log.info({ pid: helper.pid, socket, stateDir }, 'swtpm started');

  let closed: Promise<void> | undefined;
  return {
    name: 'swtpm',
    socket,
    stateDir,
    pid: helper.pid,
    died,
    close: () => {
      closed ??= (async () => {
        await helper.stop(deps.stopTimeoutMs);
        await rm(socket, { force: true }).catch(() => undefined);
        log.info('swtpm stopped');
      })();
      return closed;
    },
  };
}
