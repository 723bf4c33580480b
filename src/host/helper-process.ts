/**
 * A helper program (dnsmasq, passt) run as a direct, supervised child in the foreground (house
 * rule 8): its output becomes log lines, an unexpected exit is reported through `died`, and
 * `stop()` ends it with SIGTERM, then SIGKILL after a deadline.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { SUPERVISED_CHILD, withParentDeathSignal } from '../supervisor/child-lifetime.js';

export interface HelperProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves (never rejects) with the reason when the helper exits without being asked to. */
  readonly died: Promise<Error>;
  /** Resolves once the helper exited; idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves with the first output line matching, rejects when the helper exits first or time runs out. */
  waitForLine(pattern: RegExp, timeoutMs: number, signal?: AbortSignal): Promise<string>;
  /** The last output lines, for error messages. */
  recentOutput(): string[];
}

export function startHelper(name: string, file: string, args: string[], log: Logger): HelperProcess {
  const [command, argv] = withParentDeathSignal([file, ...args]);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...SUPERVISED_CHILD });
  const recent: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  let stopping = false;
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let resolveDied!: (error: Error) => void;
  const died = new Promise<Error>((resolve) => (resolveDied = resolve));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      if (!stopping) {
        const reason = new AppError('internal', `${name} exited unexpectedly (${signal ?? `exit code ${code}`}): ${recent.slice(-3).join(' | ')}`, {
          details: { helper: name, code, signal },
        });
        log.error({ helper: name, code, signal }, 'helper exited unexpectedly');
        resolveDied(reason);
      }
      resolve();
    });
  });
  const spawnFailed = new Promise<Error>((resolve) => {
    child.once('error', (error) => {
      exitInfo ??= { code: null, signal: null };
      recent.push(error.message);
      resolve(error);
      if (!stopping) resolveDied(new AppError('internal', `${name} could not be started: ${error.message}`, { cause: error }));
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      log.debug({ helper: name }, line);
      for (const waiter of lineWaiters) waiter(line);
    });
  }

  return {
    name,
    pid: child.pid ?? -1,
    died,
    recentOutput: () => [...recent],
    async stop(graceMs = 5_000) {
      stopping = true;
      if (exitInfo || child.pid === undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        log.warn({ helper: name, graceMs }, 'helper ignored SIGTERM, killing it');
        child.kill('SIGKILL');
        await exited;
      }
      clearTimeout(timer);
    },
    waitForLine(pattern, timeoutMs, signal) {
      const found = recent.find((line) => pattern.test(line));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<string>((resolve, reject) => {
        const cleanup = () => {
          lineWaiters.delete(onLine);
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const onLine = (line: string) => {
          if (!pattern.test(line)) return;
          cleanup();
          resolve(line);
        };
        const fail = (message: string) => {
          cleanup();
          reject(new AppError('internal', message, { details: { helper: name, output: recent.slice(-5) } }));
        };
        const onAbort = () => fail(`${name}: stopped while waiting for it to start`);
        const timer = setTimeout(() => fail(`${name} did not report ready within ${timeoutMs} ms: ${recent.slice(-3).join(' | ')}`), timeoutMs);
        lineWaiters.add(onLine);
        signal?.addEventListener('abort', onAbort, { once: true });
        void Promise.race([exited, spawnFailed]).then(() => {
          if (lineWaiters.has(onLine)) fail(`${name} exited before it was ready: ${recent.slice(-3).join(' | ')}`);
        });
      });
    },
  };
}
