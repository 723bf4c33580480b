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
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Resource, RunContext } from '../context.js';
import { AppError } from '../errors.js';
import { SUPERVISED_CHILD, withParentDeathSignal } from '../supervisor/child-lifetime.js';

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

export const DEFAULT_TPM_DEPS: TpmDeps = { program: 'swtpm', startTimeoutMs: 10_000, stopTimeoutMs: 5_000 };

export const TPM_STATE_DIR = 'tpm';
export const TPM_SOCKET = 'swtpm.sock';

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
  ctx.signal.throwIfAborted();

  const args = swtpmArgs(stateDir, socket);
  const [command, argv] = withParentDeathSignal([deps.program, ...args]);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...SUPERVISED_CHILD });
  let closing = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    let rest = '';
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) log.debug({ line: line.trimEnd() }, 'swtpm output');
    });
  }

  const describe = (e: { code: number | null; signal: NodeJS.Signals | null; error?: Error }) =>
    e.error ? e.error.message : e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;

  const died = exited.then((e) => {
    const error = new AppError('qemu', `swtpm (the guest's TPM) ended: ${describe(e)}`, {
      hint: 'The guest lost its TPM; windock stops the VM. Check the swtpm lines in the debug log (DEBUG=Y).',
      details: { stateDir },
    });
    if (!closing) log.error({ reason: describe(e) }, 'swtpm ended unexpectedly');
    return error;
  });

  try {
    await waitForSocket(socket, exited, deps.startTimeoutMs, ctx.signal);
  } catch (error) {
    closing = true;
    await stopChild(child, exited, deps.stopTimeoutMs);
    await rm(socket, { force: true });
    if (error instanceof AppError && (error.details?.['missing'] as boolean)) {
      throw new AppError('host', `swtpm is needed for BOOT_MODE=secure (a TPM 2.0) but cannot be started: ${error.message}`, {
        hint: 'Install the Debian package "swtpm", or set BOOT_MODE=uefi (Windows 11 then installs with its TPM check bypassed).',
        cause: error,
      });
    }
    throw error;
  }
  log.info({ pid: child.pid, socket, stateDir }, 'swtpm started');

  let closed: Promise<void> | undefined;
  return {
    name: 'swtpm',
    socket,
    stateDir,
    pid: child.pid ?? -1,
    died,
    close: () => {
      closed ??= (async () => {
        closing = true;
        await stopChild(child, exited, deps.stopTimeoutMs);
        await rm(socket, { force: true }).catch(() => undefined);
        log.info('swtpm stopped');
      })();
      return closed;
    },
  };
}

async function waitForSocket(
  socket: string,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  let ended: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
  void exited.then((e) => {
    ended = e;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    if (ended) {
      // setpriv exits 127 when it cannot exec the program (as a shell does).
      const missing = (ended.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' || ended.code === 127;
      throw new AppError('host', ended.error ? ended.error.message : `swtpm exited with code ${ended.code ?? ended.signal} before creating ${socket}`, {
        hint: 'Run with DEBUG=Y to see swtpm\'s own message (a locked or unwritable STORAGE/tpm is the usual cause).',
        details: { socket, missing },
      });
    }
    try {
      if ((await stat(socket)).isSocket()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new AppError('host', `swtpm did not create ${socket} within ${timeoutMs} ms`, { details: { socket } });
    await sleep(25, undefined, { signal }).catch(() => undefined);
  }
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  timeoutMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    await exited;
    return;
  }
  child.kill('SIGTERM');
  const cancel = new AbortController();
  const timer = sleep(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
  const first = await Promise.race([exited.then(() => 'exited' as const), timer]);
  cancel.abort();
  if (first === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}
