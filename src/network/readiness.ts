/**
 * Polls the guest's READY_PORT while the VM runs and says when the answer changes: /health/ready
 * follows it, and the first answer records that the guest has run from its disk. Reports through
 * the callback; the supervisor writes the status.
 */
import { probeTcp } from './reachability.js';

/** Between two probes of the guest's READY_PORT. */
export const READY_PROBE_INTERVAL_MS = 2_000;
/** One probe's bound. */
const PROBE_TIMEOUT_MS = 1_500;

export interface ReadinessTarget {
  host: string;
  port: number;
  expectReply?: boolean;
}

export type Probe = (target: ReadinessTarget, signal: AbortSignal) => Promise<boolean>;

export const probeReadiness: Probe = (target, signal) =>
  probeTcp(target.host, target.port, PROBE_TIMEOUT_MS, signal, { expectReply: target.expectReply }).catch(() => false);

/**
 * Until `signal` aborts: probes, and awaits `onChange` whenever the answer differs from `known()`
 * (the status's view, which a guest reboot resets without the watcher's doing).
 */
export async function watchReadiness(
  target: ReadinessTarget,
  report: { known: () => boolean; onChange: (reachable: boolean) => Promise<void> | void },
  signal: AbortSignal,
  probe: Probe = probeReadiness,
  intervalMs = READY_PROBE_INTERVAL_MS,
): Promise<void> {
  while (!signal.aborted) {
    const reachable = await probe(target, signal);
    if (signal.aborted) return;
    if (reachable !== report.known()) await report.onChange(reachable);
    await new Promise((resolve) => setTimeout(resolve, intervalMs).unref());
  }
}
