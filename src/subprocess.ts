/**
 * Runs a short-lived program (qemu-img, iptables, ip, tar, mtools) with an argv array — never a
 * shell — and collects its output. Built on node:child_process rather than execa: execa's import
 * alone measured ~180 ms here, most of the 300 ms windock may add before QEMU starts, and these
 * calls need nothing beyond spawn, a deadline, an AbortSignal and captured output.
 */
import { spawn } from 'node:child_process';

export interface ProgramResult {
  /** Exit code; 127 when the program could not be started (as a shell reports it). */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Non-zero exit, a signal, a start failure, a timeout or an abort. */
  failed: boolean;
  /** Ended by the AbortSignal. */
  canceled: boolean;
  timedOut: boolean;
}

export interface ProgramOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Output beyond this many bytes per stream is dropped (keeps a runaway program bounded). */
  maxBuffer?: number;
}

export function runProgram(file: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  const limit = options.maxBuffer ?? 16 * 1024 * 1024;
  return new Promise((resolve) => {
    let canceled = false;
    let timedOut = false;
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Extra variables extend the inherited environment (spawn's `env` would replace it).
      env: options.env ? { ...process.env, ...options.env } : undefined,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if ((outBytes += chunk.length) <= limit) out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if ((errBytes += chunk.length) <= limit) err.push(chunk);
    });
    const stop = (): void => {
      child.kill('SIGTERM');
    };
    const onAbort = (): void => {
      canceled = true;
      stop();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), stop()), options.timeoutMs);
    const finish = (exitCode: number, startError?: Error): void => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const stderr = Buffer.concat(err).toString('utf8').trimEnd();
      resolve({
        exitCode,
        stdout: Buffer.concat(out).toString('utf8').replace(/\n$/, ''),
        stderr: startError ? `${file}: ${startError.message}` : stderr,
        failed: exitCode !== 0 || canceled || timedOut,
        canceled,
        timedOut,
      });
    };
    child.once('error', (error) => finish(127, error));
    child.once('close', (code, signal) => finish(code ?? (signal ? 128 : 1)));
  });
}
