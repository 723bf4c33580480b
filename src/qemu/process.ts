/**
 * Launches QEMU as a supervised helper (src/process/helper.ts: argv only, own process group,
 * parent-death signal) and streams its output: stdout is the guest's serial console (QEMU's
 * `-chardev stdio`, see args.ts), stderr QEMU's own messages, of which the last lines are kept for
 * the crash report. Nothing is buffered whole: the process may run for weeks, and a guest that
 * writes to its console without a newline costs one bounded line (the rest is dropped and counted).
 */
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { startHelper } from '../process/helper.js';
import { cleanConsoleLine } from './console-text.js';

export interface QemuExit {
  /** Exit code, or undefined when a signal ended it. */
  code: number | undefined;
  signal: string | undefined;
  /** QEMU's last stderr lines, oldest first. */
  stderrTail: string[];
  /** Serial console and stderr bytes dropped from over-long lines. */
  droppedBytes?: number;
}

export interface QemuProcess {
  readonly pid: number;
  readonly exited: Promise<QemuExit>;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
}

export interface LaunchOptions {
  binary: string;
  log: Logger;
  onSerialLine: (line: string) => void;
  onStderrLine: (line: string) => void;
  /** Open descriptors QEMU inherits as fd 3, 4, … (the NetworkSpec's tap fd). */
  passFds?: readonly number[] | undefined;
  /** How many stderr lines to keep for the crash report. */
  tailLines?: number;
  /** Longest serial or stderr line kept; the rest of a longer one is dropped. */
  maxLineBytes?: number;
}

export async function launchQemu(args: readonly string[], options: LaunchOptions): Promise<QemuProcess> {
  const helper = startHelper({
    name: 'QEMU',
    argv: [options.binary, ...args],
    log: options.log,
    cleanLine: cleanConsoleLine,
    tailStreams: ['stderr'],
    tailLines: options.tailLines ?? 20,
    ...(options.maxLineBytes ? { maxLineBytes: options.maxLineBytes } : {}),
    errorCode: 'qemu',
    ownerReportsExit: true,
    ...(options.passFds ? { passFds: options.passFds } : {}),
    onLine: (line, stream) => (stream === 'stdout' ? options.onSerialLine(line) : options.onStderrLine(line)),
  });
  try {
    await helper.started;
  } catch (error) {
    // The helper's message already reads "QEMU could not be started: …".
    throw new AppError('qemu', (error as Error).message, {
      hint: 'Install qemu-system-x86 (and util-linux for setpriv).',
      cause: error,
    });
  }
  return {
    pid: helper.pid,
    exited: helper.exited.then((exit) => ({
      code: exit.code,
      signal: exit.signal,
      stderrTail: exit.tail,
      droppedBytes: exit.droppedBytes,
    })),
    kill: helper.kill,
  };
}
