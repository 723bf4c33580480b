import { describe, expect, it } from 'vitest';
import { healthResponse } from '../../../src/http/health.js';
import { StatusStore } from '../../../src/supervisor/status.js';

function snapshot(patch: Parameters<StatusStore['update']>[0][] = []) {
  const store = new StatusStore();
  for (const p of patch) store.update(p);
  return store.snapshot;
}

describe('health endpoints', () => {
  it('/health is 503 until QMP says running, then 200', () => {
    expect(healthResponse('/health', snapshot()).status).toBe(503);
    expect(healthResponse('/health', snapshot([{ phase: 'starting' }, { phase: 'running' }])).status).toBe(503);
    expect(healthResponse('/health', snapshot([{ phase: 'starting' }, { phase: 'running', guestState: 'running' }])).status).toBe(200);
    expect(healthResponse('/health', snapshot([{ phase: 'starting' }, { phase: 'running', guestState: 'paused' }])).status).toBe(503);
  });

  it('/health/live is 200 while downloading and 503 once failed', () => {
    expect(healthResponse('/health/live', snapshot([{ phase: 'downloading' }])).status).toBe(200);
    expect(healthResponse('/health/live', snapshot([{ phase: 'failed', error: { code: 'media', message: 'x' } }])).status).toBe(503);
  });

  it('/health/ready is 200 only when the guest answers', () => {
    const running = [{ phase: 'starting' as const }, { phase: 'running' as const, guestState: 'running' }];
    expect(healthResponse('/health/ready', snapshot(running)).status).toBe(503);
    expect(healthResponse('/health/ready', snapshot([...running, { guestReachable: true }])).status).toBe(200);
  });

  it('reports phase, download progress and guest address in the body', () => {
    const download = { file: 'win11.iso', bytesDone: 10, bytesTotal: 100, bytesPerSecond: 5, etaSeconds: 18 };
    const { body } = healthResponse('/health', snapshot([{ phase: 'downloading', download, guestAddress: '172.30.0.2' }]));
    expect(body).toMatchObject({ ok: false, phase: 'downloading', download, guest: { address: '172.30.0.2', reachable: false } });
  });

  it('shows an error as its code and a fixed sentence: no file path, no QEMU stderr', () => {
    const message = 'QEMU exited with code 1: qemu-system-x86_64: -drive file=/storage/data.qcow2: Could not open /storage/data.qcow2: Permission denied';
    for (const path of ['/health', '/health/live', '/health/ready'] as const) {
      const { body } = healthResponse(path, snapshot([{ phase: 'starting' }, { phase: 'failed', error: { code: 'qemu', message } }]));
      expect(body.error?.code).toBe('qemu');
      expect(JSON.stringify(body)).not.toMatch(/\/storage|Permission|qemu-system/);
    }
    const unknown = healthResponse('/health', snapshot([{ phase: 'failed', error: { code: '/etc/passwd', message: '/run/windock/qmp.sock' } }]));
    expect(unknown.body.error).toEqual({ code: 'internal', message: expect.not.stringMatching(/\//) as string });
  });
});
