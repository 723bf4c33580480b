/**
 * The viewer's snapshot API over real HTTP: the token, the origin and JSON rules, and that each
 * route becomes the same control request as the command line sends.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import type { ControlRequest } from '../../src/lab/control-protocol.js';
import { withSnapshotApi } from '../../src/lab/snapshot-api.js';

const TOKEN = 'test-token-0123456789';
const seen: ControlRequest[] = [];
let server: Server;
let base = '';

beforeAll(async () => {
  const viewer = {
    handle: (_req: unknown, res: { writeHead: (s: number) => void; end: (b: string) => void }) => {
      res.writeHead(418);
      res.end('viewer');
      return true;
    },
    upgrade: () => undefined,
  };
  const api = withSnapshotApi(viewer as never, async (request) => {
    seen.push(request);
    if (request.op === 'snapshot-list') return [{ name: 'clean', date: '2026-12-01T00:00:00.000Z', vmStateBytes: 1 }];
    if (request.op === 'snapshot-delete' && request.name === 'missing') throw new AppError('config', 'no snapshot named "missing"', { hint: 'list them' });
    if (request.op === 'reset') throw new Error('QEMU went away');
    return { steps: [] };
  }, TOKEN);
  server = createServer((req, res) => void api.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const auth = { Authorization: `Bearer ${TOKEN}` };
async function call(method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(`${base}${path}`, { method, headers: options.headers ?? auth, body: options.body });
  return { status: response.status, body: (await response.json().catch(() => null)) as { result?: unknown; error?: { message: string; hint?: string } } | null };
}
const json = { ...auth, 'Content-Type': 'application/json' };

it('needs the token, and leaves other paths to the viewer', async () => {
  expect((await call('GET', '/api/snapshots', { headers: {} })).status).toBe(401);
  expect((await call('GET', '/api/snapshots', { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
  expect((await fetch(`${base}/`)).status).toBe(418);
});

it('lists, saves, reverts and deletes through the control requests', async () => {
  seen.length = 0;
  expect(await call('GET', '/api/snapshots')).toEqual({ status: 200, body: { result: [{ name: 'clean', date: '2026-12-01T00:00:00.000Z', vmStateBytes: 1 }] } });
  expect((await call('POST', '/api/snapshots', { headers: json, body: '{"name":"before-update"}' })).status).toBe(200);
  expect((await call('POST', '/api/snapshots/clean/revert', { headers: json, body: '{"discardChanges":true}' })).status).toBe(200);
  expect((await call('DELETE', '/api/snapshots/clean')).status).toBe(200);
  expect(seen).toEqual([
    { op: 'snapshot-list' },
    { op: 'snapshot-save', name: 'before-update' },
    { op: 'snapshot-revert', name: 'clean', discardChanges: true },
    { op: 'snapshot-delete', name: 'clean' },
  ]);
});

it('refuses bad input with 4xx and the reason, before the handler sees it', async () => {
  seen.length = 0;
  const bad = await call('POST', '/api/snapshots', { headers: json, body: '{"name":"../etc"}' });
  expect(bad.status).toBe(400);
  expect(bad.body?.error?.message).toContain('got "../etc"');
  expect((await call('POST', '/api/snapshots', { headers: auth, body: 'name=x' })).body?.error?.message).toBe('send the request body as application/json');
  expect((await call('POST', '/api/snapshots', { headers: json, body: '[1]' })).status).toBe(400);
  expect((await call('POST', '/api/snapshots', { headers: json, body: `{"name":"${'a'.repeat(5000)}"}` })).status).toBe(413);
  expect((await call('PUT', '/api/snapshots')).status).toBe(405);
  expect((await call('GET', '/api/snapshots/clean/revert')).status).toBe(405);
  expect((await call('GET', '/api/snapshots/%E0%A4%A')).status).toBe(400);
  expect((await call('POST', '/api/snapshots', { headers: { ...json, Origin: 'http://evil.example' }, body: '{"name":"x1"}' })).status).toBe(403);
  expect(seen).toEqual([]);
});

it('a refused request is 400 with its hint, a failure 500', async () => {
  expect(await call('DELETE', '/api/snapshots/missing')).toEqual({ status: 400, body: { error: { code: 'config', message: 'no snapshot named "missing"', hint: 'list them' } } });
  expect(await call('POST', '/api/reset', { headers: json, body: '' })).toEqual({ status: 500, body: { error: { code: 'internal', message: 'QEMU went away' } } });
});
