import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/http/metrics.js';
import { StatusStore } from '../../../src/supervisor/status.js';

/** The value of one sample line, e.g. `windock_phase{phase="running"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  it('reads phase, QEMU, guest and download figures from the status snapshot at scrape time', async () => {
    const status = new StatusStore();
    const metrics = createMetrics(status);
    let text = await metrics.render();
    expect(sample(text, 'windock_phase{phase="preparing"}')).toBe(1);
    expect(sample(text, 'windock_phase{phase="running"}')).toBe(0);
    expect(sample(text, 'windock_qemu_up')).toBe(0);
    expect(sample(text, 'windock_guest_state{state="running"}')).toBe(0);

    status.update({
      phase: 'downloading',
      download: { file: 'win.iso', bytesDone: 1234, bytesTotal: 5000, bytesPerSecond: 100, etaSeconds: 38 },
    });
    text = await metrics.render();
    expect(sample(text, 'windock_phase{phase="downloading"}')).toBe(1);
    expect(sample(text, 'windock_download_bytes')).toBe(1234);
    expect(sample(text, 'windock_download_size_bytes')).toBe(5000);

    status.update({ phase: 'starting' });
    status.update({ phase: 'running', qemuPid: 42, guestState: 'running', guestReachable: true, download: undefined });
    text = await metrics.render();
    expect(sample(text, 'windock_qemu_up')).toBe(1);
    expect(sample(text, 'windock_guest_state{state="running"}')).toBe(1);
    expect(sample(text, 'windock_guest_reachable')).toBe(1);
    expect(sample(text, 'windock_download_bytes')).toBe(0);

    status.update({ guestState: 'something-new' });
    text = await metrics.render();
    expect(sample(text, 'windock_guest_state{state="other"}')).toBe(1);
    expect(text).not.toContain('win.iso');
  });

  it('counts viewers, bytes, dropped input and shutdown durations', async () => {
    const metrics = createMetrics(new StatusStore());
    metrics.viewerOpened();
    metrics.viewerOpened();
    metrics.viewerClosed();
    metrics.viewerBytes('to-viewer', 1000);
    metrics.viewerInputDropped(3);
    metrics.observeShutdown(12.5, 'powered-off');
    metrics.observeShutdown(111, 'forced');
    const text = await metrics.render();
    expect(sample(text, 'windock_viewer_connections')).toBe(1);
    expect(sample(text, 'windock_viewer_connections_total')).toBe(2);
    expect(sample(text, 'windock_viewer_bytes_total{direction="to-viewer"}')).toBe(1000);
    expect(sample(text, 'windock_viewer_bytes_total{direction="to-vm"}')).toBe(0);
    expect(sample(text, 'windock_viewer_input_dropped_total')).toBe(3);
    expect(sample(text, 'windock_shutdown_duration_seconds_count{outcome="powered-off"}')).toBe(1);
    expect(sample(text, 'windock_shutdown_duration_seconds_bucket{le="20",outcome="powered-off"}')).toBe(1);
    expect(sample(text, 'windock_shutdown_duration_seconds_bucket{le="110",outcome="forced"}')).toBe(0);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('windock_process_resident_memory_bytes');
  });

  it('keeps two instances apart (own registries)', async () => {
    const a = createMetrics(new StatusStore());
    const b = createMetrics(new StatusStore());
    a.viewerOpened();
    expect(sample(await b.render(), 'windock_viewer_connections')).toBe(0);
  });
});
