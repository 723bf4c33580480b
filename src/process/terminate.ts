/**
 * The one kill ladder: SIGTERM, SIGKILL once the grace is over, then a bounded wait for the exit
 * status. SIGKILL cannot be ignored, but a process stuck in the kernel (uninterruptible I/O on a
 * dead NFS server, say) is not reaped until the kernel lets go: the last wait is bounded too, and
 * the caller learns that the exit was not seen instead of waiting forever.
 */
import { within } from './deadline.js';

/** How long the exit status may take to arrive after SIGKILL. */
export const KILL_WAIT_MS = 2_000;

export interface Killable<T> {
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
  /** Resolves (never rejects) once the process exited. */
  readonly exited: Promise<T>;
}

export interface TerminateOptions {
  /** Time between SIGTERM and SIGKILL. */
  graceMs: number;
  /** Time after SIGKILL to wait for the exit status; KILL_WAIT_MS by default. */
  killWaitMs?: number;
  /** Called just before the SIGKILL (for a log line). */
  onKill?: () => void;
}

export interface Terminated<T> {
  /** The last signal sent. */
  sent: 'SIGTERM' | 'SIGKILL';
  /** The exit, or undefined when not even SIGKILL produced one within the kill wait. */
  exit: T | undefined;
}

export async function terminate<T>(target: Killable<T>, options: TerminateOptions): Promise<Terminated<T>> {
  target.kill('SIGTERM');
  const termed = await within(target.exited, options.graceMs);
  if (termed !== undefined) return { sent: 'SIGTERM', exit: termed };
  options.onKill?.();
  target.kill('SIGKILL');
  return { sent: 'SIGKILL', exit: await within(target.exited, options.killWaitMs ?? KILL_WAIT_MS) };
}

/** The longest `terminate` can take with these options. */
export function terminateWorstCaseMs(options: Pick<TerminateOptions, 'graceMs' | 'killWaitMs'>): number {
  return options.graceMs + (options.killWaitMs ?? KILL_WAIT_MS);
}
