/**
 * Launches QEMU as a direct child (argv only, never a shell) and streams its output: stdout is
 * the guest's serial console, stderr QEMU's own messages, of which the last lines are kept for
 * the crash report. Nothing is buffered whole: the process may run for weeks.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { cleanConsoleLine } from './console-text.js';
import { SUPERVISED_CHILD, withParentDeathSignal } from '../supervisor/child-lifetime.js';

export interface QemuExit {
  /** Exit code, or undefined when a signal ended it. */
  code: number | undefined;
  signal: string | undefined;
  /** QEMU's last stderr lines, oldest first. */
  stderrTail: string[];
}

export interface QemuProcess {
  readonly pid: number;
  readonly exited: Promise<QemuExit>;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
}

export interface LaunchOptions {
  binary: string;
  onSerialLine: (line: string) => void;
  onStderrLine: (line: string) => void;
  /** How many stderr lines to keep for the crash report. */
  tailLines?: number;
}

export async function launchQemu(args: readonly string[], options: LaunchOptions): Promise<QemuProcess> {
  const [command, rest] = withParentDeathSignal([options.binary, ...args]);
  const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'], ...SUPERVISED_CHILD });
  const tailLimit = options.tailLines ?? 20;
  const tail: string[] = [];
  const serialDone = eachLine(child.stdout, (line) => options.onSerialLine(line));
  const stderrDone = eachLine(child.stderr, (line) => {
    tail.push(line);
    if (tail.length > tailLimit) tail.shift();
    options.onStderrLine(line);
  });
  const exitStatus = new Promise<{ code: number | undefined; signal: string | undefined }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code: code ?? undefined, signal: signal ?? undefined }));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) =>
      reject(new AppError('qemu', `QEMU could not be started: ${error.message}`, { hint: 'Install qemu-system-x86 (and util-linux for setpriv).', cause: error })),
    );
  });
  const exited = (async (): Promise<QemuExit> => {
    const status = await exitStatus;
    // Drain both streams so that QEMU's last words are in the tail before anyone reads it.
    await Promise.allSettled([serialDone, stderrDone]);
    return { ...status, stderrTail: [...tail] };
  })();
  return {
    pid: child.pid as number,
    exited,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/** Calls `onLine` for each line, stripped of carriage returns and terminal escape sequences. */
function eachLine(stream: Readable | null, onLine: (line: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (raw) => {
    const line = cleanConsoleLine(raw);
    if (line) onLine(line);
  });
  return new Promise((resolve) => lines.once('close', resolve));
}

