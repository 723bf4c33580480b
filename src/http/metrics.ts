/**
 * `/metrics` in the Prometheus text format (prom-client), on a Registry of its own so that two
 * instances (tests, or a library user) never collide in prom-client's global one.
 *
 * State gauges are read from the StatusStore snapshot at scrape time (a `collect` callback), so
 * nothing here subscribes to events or can drift from what /health says.
 *
 * /metrics is served without the viewer token, like /health: Prometheus scrapers rarely carry
 * cookies, and nothing here is sensitive (no addresses, no file names, no token, no error text).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES } from '../supervisor/lifecycle.js';
import type { StatusView } from '../supervisor/status.js';

/**
 * QMP RunState values (qapi/run-state.json). A guest state outside this list is reported as
 * "other", which keeps the label set bounded whatever QEMU reports.
 */
export const GUEST_STATES = [
  'debug', 'inmigrate', 'internal-error', 'io-error', 'paused', 'postmigrate', 'prelaunch', 'finish-migrate',
  'restore-vm', 'running', 'save-vm', 'shutdown', 'suspended', 'watchdog', 'guest-panicked', 'colo', 'other',
] as const;

/** How a stop ended; the supervisor's shutdown ladder reports one of these. */
export type ShutdownOutcome = 'powered-off' | 'forced' | 'crashed' | (string & {});

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The whole exposition, rendered now. */
  render(): Promise<string>;
  /** The supervisor reports each stop: seconds from the request to QEMU's exit. */
  observeShutdown(seconds: number, outcome: ShutdownOutcome): void;
  viewerOpened(): void;
  viewerClosed(): void;
  /** Bytes moved by the VNC bridge; direction "to-viewer" or "to-vm". */
  viewerBytes(direction: 'to-viewer' | 'to-vm', bytes: number): void;
  /** A view-only viewer tried to send input, which was dropped. */
  viewerInputDropped(count: number): void;
}

export function createMetrics(status: StatusView): Metrics {
  const registry = new Registry();
  // Process figures (RSS, CPU, event-loop lag, GC): what a bridge under load shows first.
  collectDefaultMetrics({ register: registry, prefix: 'windock_' });

  new Gauge({
    name: 'windock_phase',
    help: 'Supervisor phase: 1 for the current phase, 0 for the others',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const current = status.snapshot.phase;
      for (const phase of PHASES) this.set({ phase }, phase === current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'windock_qemu_up',
    help: '1 while a QEMU process runs',
    registers: [registry],
    collect() {
      this.set(status.snapshot.qemuPid === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: 'windock_guest_state',
    help: "Guest run state as QMP reports it: 1 for the current state (none while QEMU isn't running)",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const raw = status.snapshot.guestState;
      const current = raw === undefined ? undefined : (GUEST_STATES as readonly string[]).includes(raw) ? raw : 'other';
      for (const state of GUEST_STATES) this.set({ state }, state === current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'windock_guest_reachable',
    help: '1 when the guest answers on READY_PORT',
    registers: [registry],
    collect() {
      this.set(status.snapshot.guestReachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'windock_download_bytes',
    help: 'Bytes of the current download received so far (0 when none)',
    registers: [registry],
    collect() {
      this.set(status.snapshot.download?.bytesDone ?? 0);
    },
  });
  new Gauge({
    name: 'windock_download_size_bytes',
    help: 'Size of the current download, when the server announced it (0 otherwise)',
    registers: [registry],
    collect() {
      this.set(status.snapshot.download?.bytesTotal ?? 0);
    },
  });
  new Gauge({
    name: 'windock_download_bytes_per_second',
    help: 'Current download rate',
    registers: [registry],
    collect() {
      this.set(status.snapshot.download?.bytesPerSecond ?? 0);
    },
  });

  const viewers = new Gauge({ name: 'windock_viewer_connections', help: 'Open viewer WebSocket connections', registers: [registry] });
  const viewersTotal = new Counter({ name: 'windock_viewer_connections_total', help: 'Viewer WebSocket connections opened', registers: [registry] });
  const bytes = new Counter({
    name: 'windock_viewer_bytes_total',
    help: 'Bytes moved by the VNC bridge',
    labelNames: ['direction'],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'windock_viewer_input_dropped_total',
    help: 'Input messages dropped from view-only viewers',
    registers: [registry],
  });
  const shutdown = new Histogram({
    name: 'windock_shutdown_duration_seconds',
    help: 'Time from a stop request to QEMU exit, by outcome',
    labelNames: ['outcome'],
    // Guests power off in seconds to minutes; 110 s is the default SHUTDOWN_TIMEOUT.
    buckets: [1, 2, 5, 10, 20, 30, 45, 60, 90, 110, 120, 180, 300, 600],
    registers: [registry],
  });
  // Bound once: the bridge counts every chunk, and a bound child skips the label hashing. Both
  // series exist (at 0) from the start, so rate() works from the first scrape.
  const bytesBy = { 'to-viewer': bytes.labels({ direction: 'to-viewer' }), 'to-vm': bytes.labels({ direction: 'to-vm' }) };
  bytesBy['to-viewer'].inc(0);
  bytesBy['to-vm'].inc(0);

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observeShutdown: (seconds, outcome) => shutdown.observe({ outcome }, seconds),
    viewerOpened: () => {
      viewers.inc();
      viewersTotal.inc();
    },
    viewerClosed: () => viewers.dec(),
    viewerBytes: (direction, n) => bytesBy[direction].inc(n),
    viewerInputDropped: (count) => dropped.inc(count),
  };
}
