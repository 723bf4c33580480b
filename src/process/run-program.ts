/**
 * Runs a short program (qemu-img, iptables, ip, tar, mkfs.fat, mtools) from an argv array —
 * never a shell — and collects its output. Built on node:child_process rather than execa:
 * execa's import alone measured ~180 ms here, most of the 300 ms windock may add before QEMU
 * starts, and these calls need nothing beyond spawn, a deadline, an AbortSignal and captured
 * output.
 *
 * A deadline or an abort ends the program with SIGTERM, then SIGKILL after a grace, then a
 * bounded wait for its exit (terminate.ts): the call always returns, and says what ended it.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { withParentDeathSignal } from './child-lifetime.js';
import { within } from './deadline.js';
import { KILL_WAIT_MS, terminate } from './terminate.js';

export type ProgramEnd = 'exit' | 'timeout' | 'abort' | 'start-failed';

export interface ProgramResult {
  argv: readonly string[];
  /** What ended it: its own exit (a signal from elsewhere included), the deadline, the AbortSignal, or no start at all. */
  endedBy: ProgramEnd;
  /** The exit code; undefined when a signal ended it or it never started. */
  exitCode: number | undefined;
  /** The signal that ended it ("SIGKILL"), if one did. */
  signal: NodeJS.Signals | undefined;
  /** The last signal windock sent it (a deadline or an abort), if any. */
  sent: 'SIGTERM' | 'SIGKILL' | undefined;
  /** Exited with code 0 by itself. */
  ok: boolean;
  /** Without its final newline. */
  stdout: string;
  /** Trailing whitespace trimmed; "<program>: <reason>" when it could not be started. */
  stderr: string;
  /** Output bytes beyond the cap, dropped (both streams). */
  droppedBytes: number;
}

export interface ProgramOptions {
  signal?: AbortSignal | undefined;
  /** Deadline for the whole run; none by default (qemu-img convert legitimately takes minutes). */
  timeoutMs?: number;
  /** Extra variables: they extend the inherited environment (spawn's `env` would replace it). */
  env?: Record<string, string>;
  /** Output kept per stream; beyond it bytes are dropped and counted. 16 MiB by default. */
  maxOutputBytes?: number;
  /** Time between SIGTERM and SIGKILL after a deadline or abort; 2 s by default. */
  graceMs?: number;
  /**
   * The kernel ends the program when windock dies, even by SIGKILL (child-lifetime.ts). For the
   * long ones (qemu-img convert, tar of a box): without it, a killed windock leaves a conversion
   * writing into STORAGE that the next start would race.
   */
  dieWithParent?: boolean;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
const DEFAULT_GRACE_MS = 2_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function runProgram(argv: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  if (argv[0] === undefined) throw new RangeError('runProgram needs a program name');
  const [file, args] = options.dieWithParent ? withParentDeathSignal(argv) : [argv[0], argv.slice(1)];
  const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve) => {
    let endedBy: ProgramEnd = 'exit';
    let dropped = 0;
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ? { ...process.env, ...options.env } : undefined,
    });
    const capture = (stream: NodeJS.ReadableStream): Buffer[] => {
      const parts: Buffer[] = [];
      let kept = 0;
      stream.on('data', (chunk: Buffer) => {
        const take = Math.min(chunk.length, limit - kept);
        if (take > 0) parts.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        kept += take;
        dropped += chunk.length - take;
      });
      return parts;
    };
    const out = capture(child.stdout);
    const err = capture(child.stderr);
    // 'exit' gives the status; 'close' (all pipes at their end) may never come when a grandchild
    // holds them open, so the result waits for it only boundedly.
    const exited = new Promise<Exit>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const closed = new Promise<true>((r) => child.once('close', () => r(true)));
    // Resolves only when the kill ladder gave up: not even SIGKILL produced an exit in time.
    let giveUp!: (value: undefined) => void;
    const gaveUp = new Promise<undefined>((r) => (giveUp = r));
    let ending = false;
    let sent: ProgramResult['sent'];
    const kill = (s: 'SIGTERM' | 'SIGKILL'): void => {
      sent = s;
      child.kill(s);
    };
    const end = (why: 'timeout' | 'abort'): void => {
      if (ending) return;
      ending = true;
      endedBy = why;
      void terminate({ kill, exited }, { graceMs: options.graceMs ?? DEFAULT_GRACE_MS }).then((t) => {
        if (t.exit === undefined) giveUp(undefined);
      });
    };
    const onAbort = (): void => end('abort');
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => end('timeout'), options.timeoutMs);
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const result = (exit: Exit | undefined, stderr?: string): ProgramResult => ({
      argv,
      endedBy,
      exitCode: exit?.code ?? undefined,
      signal: exit?.signal ?? undefined,
      sent,
      ok: endedBy === 'exit' && exit?.code === 0,
      stdout: Buffer.concat(out).toString('utf8').replace(/\n$/, ''),
      stderr: stderr ?? Buffer.concat(err).toString('utf8').trimEnd(),
      droppedBytes: dropped,
    });

    child.on('error', (error) => {
      // Only a failed spawn reaches here without an exit (a kill error is not possible for a
      // child Node started): report it as a shell would, "program: reason".
      if (child.pid !== undefined) return;
      cleanup();
      endedBy = 'start-failed';
      resolve(result(undefined, `${file}: ${error.message}`));
    });
    child.once('spawn', () => {
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      void (async () => {
        const exit = await Promise.race([exited, gaveUp]);
        if ((await within(closed, KILL_WAIT_MS)) === undefined) {
          child.stdout.destroy();
          child.stderr.destroy();
        }
        cleanup();
        resolve(result(exit));
      })();
    });
  });
}

/** How the run ended, for messages: "exit code 2", "killed by SIGKILL after its 5000 ms deadline". */
export function describeProgramEnd(result: ProgramResult, timeoutMs?: number): string {
  const status = result.signal ? `killed by ${result.signal}` : result.exitCode !== undefined ? `exit code ${result.exitCode}` : `no exit seen after ${result.sent ?? 'its start'}`;
  switch (result.endedBy) {
    case 'start-failed':
      return `could not be started (${result.stderr})`;
    case 'timeout':
      return `${status} after its ${timeoutMs === undefined ? '' : `${timeoutMs} ms `}deadline`;
    case 'abort':
      return `${status} after a stop request`;
    case 'exit':
      return status;
  }
}

/** The status a shell would report: 127 for a program that could not start, 128 + n for signal n. */
export function shellStatus(result: ProgramResult): number {
  if (result.exitCode !== undefined) return result.exitCode;
  if (result.endedBy === 'start-failed') return 127;
  return 128 + (result.signal ? (constants.signals[result.signal] ?? 0) : constants.signals.SIGKILL);
}
