/**
 * Launches QEMU as a direct child (argv only, never a shell) and streams its output: stdout is
 * the guest's serial console, stderr QEMU's own messages, of which the last lines are kept for
 * the crash report. Nothing is buffered whole: the process may run for weeks.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
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
  const child = execa(command, rest, {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    // windock stops QEMU itself through the shutdown ladder; execa must not race it.
    cleanup: false,
    forceKillAfterDelay: false,
    encoding: 'utf8',
    ...SUPERVISED_CHILD,
  });
  const tailLimit = options.tailLines ?? 20;
  const tail: string[] = [];
  const serialDone = eachLine(child.stdout, (line) => options.onSerialLine(line));
  const stderrDone = eachLine(child.stderr, (line) => {
    tail.push(line);
    if (tail.length > tailLimit) tail.shift();
    options.onStderrLine(line);
  });
  const spawned = new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', reject);
  });
  const exited = (async (): Promise<QemuExit> => {
    const result = await child;
    // Drain both streams so that QEMU's last words are in the tail before anyone reads it.
    await Promise.allSettled([serialDone, stderrDone]);
    return { code: result.exitCode, signal: result.signal, stderrTail: [...tail] };
  })();
  const pid = await spawned;
  return {
    pid,
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

// CSI sequences (colours, cursor moves) and other control characters firmware likes to print.
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>c]|[\x00-\x08\x0b-\x1f\x7f]/g;

export function cleanConsoleLine(raw: string): string {
  return raw.replace(ESCAPES, '').trimEnd();
}
