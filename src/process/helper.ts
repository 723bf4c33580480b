/**
 * A long-lived helper (QEMU, dnsmasq, passt, swtpm) run as a direct, supervised child in the
 * foreground (house rule 8): in its own process group with a parent-death signal
 * (child-lifetime.ts), its output streamed as bounded lines (line-splitter.ts) with a tail kept
 * for error messages, an unasked exit reported through `died`, readiness awaited by an output
 * line or by a socket appearing, and `stop()` ending it with the kill ladder (terminate.ts).
 */
import { spawn } from 'node:child_process';
import { AppError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { SUPERVISED_CHILD, withParentDeathSignal } from './child-lifetime.js';
import { waitForPath, within, withDeadline } from './deadline.js';
import { LineSplitter, splitStream } from './line-splitter.js';
import { terminate, terminateWorstCaseMs } from './terminate.js';

export type OutputStream = 'stdout' | 'stderr';

export interface HelperSpec {
  /** Named in every log line and error ("dnsmasq"). */
  name: string;
  argv: readonly string[];
  log: Logger;
  /** Each non-empty output line; by default a debug log line. */
  onLine?: (line: string, stream: OutputStream) => void;
  /** Applied to each raw line first (QEMU strips terminal escapes); an empty result is skipped. */
  cleanLine?: (raw: string) => string;
  /** Streams whose lines go into the tail; both by default (QEMU: stderr, not the guest's console). */
  tailStreams?: readonly OutputStream[];
  tailLines?: number;
  maxLineBytes?: number;
  /** Open descriptors the child inherits as fd 3, 4, … (QEMU's `-netdev tap,fd=3`). */
  passFds?: readonly number[];
  /** Working directory; the relative paths in its argv are read from here. */
  cwd?: string;
  /** The code of `died` and readiness errors; 'internal' by default. */
  errorCode?: ErrorCode;
  /**
   * The owner turns every exit into its own report (QEMU: the VM runner decides crash, power-off
   * or forced stop), so an exit is not logged here as unexpected: a `quit` that ended QEMU would
   * otherwise read as a helper failure in the log.
   */
  ownerReportsExit?: boolean;
}

export interface HelperExit {
  code: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** Set when the helper could not be started at all. */
  startError?: Error;
  /** The last lines of the tail streams, oldest first. */
  tail: string[];
  /** Output bytes dropped from over-long lines. */
  droppedBytes: number;
}

export interface Helper {
  readonly name: string;
  /** -1 when it could not be started. */
  readonly pid: number;
  /** Resolves once the program runs; rejects with an AppError when it could not be started. */
  readonly started: Promise<void>;
  /** Resolves (never rejects) once it exited and its output was read (boundedly). */
  readonly exited: Promise<HelperExit>;
  /** Resolves (never rejects) with the reason when it exits without `stop()` having been called. */
  readonly died: Promise<AppError>;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
  /** SIGTERM, SIGKILL after `graceMs`; idempotent. Undefined when not even SIGKILL produced an exit in time. */
  stop(graceMs?: number): Promise<HelperExit | undefined>;
  /** The first output line (of the tail streams) matching; rejects on its exit, the deadline or an abort. */
  waitForLine(pattern: RegExp, options: ReadyOptions): Promise<string>;
  /** Resolves once `path` exists; rejects on its exit, the deadline or an abort. */
  waitForPath(path: string, options: ReadyOptions & { socket?: boolean }): Promise<void>;
  recentOutput(): string[];
  /** Output bytes dropped from over-long lines so far. */
  droppedBytes(): number;
}

export interface ReadyOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export const DEFAULT_STOP_GRACE_MS = 5_000;
/** Console and log lines are short; 8 KiB holds any real one and bounds a runaway one. */
export const MAX_LINE_BYTES = 8 * 1024;
/** After the exit, how long the last output may take to be read (a grandchild may hold the pipe). */
const DRAIN_MS = 500;

/** The longest `stop(graceMs)` can take. */
export function helperStopWorstCaseMs(graceMs = DEFAULT_STOP_GRACE_MS): number {
  return terminateWorstCaseMs({ graceMs }) + DRAIN_MS;
}

/** "exit code 1", "killed by SIGKILL", "could not be started: …" */
export function describeExit(exit: Pick<HelperExit, 'code' | 'signal' | 'startError'>): string {
  if (exit.startError) return `could not be started: ${exit.startError.message}`;
  if (exit.signal) return `killed by ${exit.signal}`;
  // setpriv exits 127 when it cannot execute the program (as a shell does).
  return exit.code === 127 ? 'exit code 127: the program was not found' : `exit code ${exit.code}`;
}

/** The program itself is missing: spawn's ENOENT, or setpriv's 127. */
export function programMissing(exit: Pick<HelperExit, 'code' | 'startError'>): boolean {
  return (exit.startError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' || exit.code === 127;
}

type RawExit = Pick<HelperExit, 'code' | 'signal' | 'startError'>;

export function startHelper(spec: HelperSpec): Helper {
  const { name, log } = spec;
  const [command, argv] = withParentDeathSignal(spec.argv);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe', ...(spec.passFds ?? [])], ...(spec.cwd ? { cwd: spec.cwd } : {}), ...SUPERVISED_CHILD });
  const tailStreams = spec.tailStreams ?? ['stdout', 'stderr'];
  const tailLines = spec.tailLines ?? 20;
  const maxLineBytes = spec.maxLineBytes ?? MAX_LINE_BYTES;
  const onLine = spec.onLine ?? ((line: string, stream: OutputStream) => log.debug({ helper: name, stream }, line));
  const tail: string[] = [];
  const waiters = new Set<(line: string) => void>();
  let stopRequested = false;

  const splitter = (stream: OutputStream): LineSplitter => {
    let warned = false;
    return new LineSplitter({
      maxLineBytes,
      onLine: (raw, cut) => {
        if (cut && !warned) {
          warned = true;
          log.warn({ helper: name, stream, maxLineBytes }, 'output line too long: cut, the rest of it dropped');
        }
        const line = spec.cleanLine ? spec.cleanLine(raw) : raw.trimEnd();
        if (!line) return;
        if (tailStreams.includes(stream)) {
          tail.push(line);
          if (tail.length > tailLines) tail.shift();
          for (const waiter of waiters) waiter(line);
        }
        onLine(line, stream);
      },
    });
  };
  const splitters = [splitter('stdout'), splitter('stderr')] as const;
  // Both are pipes (stdio above); the extra descriptors do not change their type's nullability.
  const drained = Promise.all([splitStream(child.stdout!, splitters[0]), splitStream(child.stderr!, splitters[1])]);
  const droppedBytes = (): number => splitters[0].droppedBytes + splitters[1].droppedBytes;
  const describeTail = (): string => tail.slice(-3).join(' | ') || '(no output)';
  const failure = (what: string): AppError =>
    new AppError(spec.errorCode ?? 'internal', `${name} ${what}; its last output: ${describeTail()}`, { details: { helper: name, output: tail.slice(-5) } });

  let exitSeen = false;
  const rawExit = new Promise<RawExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code: code ?? undefined, signal: signal ?? undefined }));
    // Without a pid the spawn itself failed; otherwise an 'error' is a failed kill, and the exit follows.
    child.on('error', (error) => child.pid === undefined && resolve({ code: undefined, signal: undefined, startError: error }));
  }).finally(() => (exitSeen = true));
  const exited = rawExit.then(async (raw): Promise<HelperExit> => {
    await within(drained, DRAIN_MS);
    const dropped = droppedBytes();
    if (dropped > 0) log.warn({ helper: name, droppedBytes: dropped, cutLines: splitters[0].cutLines + splitters[1].cutLines }, 'output dropped from over-long lines');
    return { ...raw, tail: [...tail], droppedBytes: dropped };
  });
  const started = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    void rawExit.then((raw) => {
      if (raw.startError) {
        reject(new AppError(spec.errorCode ?? 'internal', `${name} could not be started: ${raw.startError.message}`, {
          hint: 'windock starts its helpers through setpriv: install util-linux.',
          cause: raw.startError,
          details: { helper: name },
        }));
      }
    });
  });
  started.catch(() => undefined); // reported through `exited`/`died` as well; nobody must await it
  const died = exited.then(
    (exit) =>
      new Promise<AppError>((resolve) => {
        if (stopRequested) return; // asked to go: never settles
        if (!spec.ownerReportsExit) log.error({ helper: name, code: exit.code, signal: exit.signal, output: exit.tail.slice(-5) }, 'helper exited unexpectedly');
        resolve(
          new AppError(spec.errorCode ?? 'internal', `${name} exited unexpectedly (${describeExit(exit)}): ${describeTail()}`, {
            details: { helper: name, code: exit.code, signal: exit.signal, output: exit.tail.slice(-5) },
          }),
        );
      }),
  );
  const kill = (signal: 'SIGTERM' | 'SIGKILL'): void => void child.kill(signal);
  let stopping: Promise<HelperExit | undefined> | undefined;

  return {
    name,
    pid: child.pid ?? -1,
    started,
    exited,
    died,
    kill,
    recentOutput: () => [...tail],
    droppedBytes,
    stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      stopRequested = true;
      stopping ??= (async () => {
        if (exitSeen) return exited;
        const result = await terminate({ kill, exited: rawExit }, {
          graceMs,
          onKill: () => log.warn({ helper: name, graceMs }, 'helper ignored SIGTERM, killing it'),
        });
        if (result.exit === undefined) {
          log.error({ helper: name, pid: child.pid }, 'helper did not exit even after SIGKILL');
          return undefined;
        }
        return exited;
      })();
      return stopping;
    },
    waitForLine(pattern, options) {
      const seen = tail.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      let waiter: ((line: string) => void) | undefined;
      const found = new Promise<string>((resolve) => {
        waiter = (line) => pattern.test(line) && resolve(line);
        waiters.add(waiter);
      });
      const gone = exited.then((exit) => Promise.reject(failure(`exited before it was ready (${describeExit(exit)})`)));
      return withDeadline(Promise.race([found, gone]), options.timeoutMs, options.signal, () =>
        failure(`did not report ready (${pattern.source}) within ${options.timeoutMs} ms`),
      ).finally(() => waiters.delete(waiter!));
    },
    async waitForPath(path, options) {
      const gone = new AbortController();
      void exited.then((exit) => gone.abort(failure(`exited before it created ${path} (${describeExit(exit)})`)));
      await waitForPath(path, {
        timeoutMs: options.timeoutMs,
        signal: options.signal ? AbortSignal.any([options.signal, gone.signal]) : gone.signal,
        socket: options.socket ?? false,
        what: () => failure(`did not create ${path} within ${options.timeoutMs} ms`),
      });
    },
  };
}
