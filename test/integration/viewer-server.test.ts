/**
 * The viewer installed in the lead's real web server (src/http/server.ts) the way app.ts does it:
 * the server keeps /health, the viewer gets everything else, WebSocket upgrades included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenCookieName } from '../../src/http/auth.js';
import { createMetrics } from '../../src/http/metrics.js';
import { startWebServer, type WebServer } from '../../src/http/server.js';
import { createViewer } from '../../src/http/viewer.js';
import { createLogger } from '../../src/core/log.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { RfbTestClient, startQemu, type TestQemu } from './vnc-bridge-support.js';

const TOKEN = 'server-wiring-token';
const log = createLogger({ level: 'info', pretty: false, destination: { write: () => undefined } });
let dir: string;
let qemu: TestQemu;
let web: WebServer;
let viewer: ReturnType<typeof createViewer> | undefined;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-viewer-server-'));
  qemu = await startQemu(dir);
  const status = new StatusStore();
  status.update({ phase: 'starting', qemuPid: qemu.pid });
  web = await startWebServer({ port: 0, host: '127.0.0.1', status, log });
  base = `http://127.0.0.1:${web.port}`;
  // Before the viewer is installed the server answers for it.
  expect((await fetch(`${base}/`)).status).toBe(503);
  viewer = createViewer({ vncSocket: qemu.vncSocket, status, log, auth: { token: TOKEN }, viewOnly: false, metrics: createMetrics(status) });
  web.setDelegate(viewer);
});
afterAll(async () => {
  await viewer?.close();
  await web?.close();
  await qemu?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('viewer behind the web server', () => {
  it('health stays open and with the server; the page, status and WebSocket need the token; /metrics is open', async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(503); // starting, not running
    expect(await health.text()).not.toContain(TOKEN);
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/api/status`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect((await fetch(`${base}/nothing-here`)).status).toBe(404);

    const login = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(cookie).toBe(`${tokenCookieName(TOKEN)}=${TOKEN}`);
    const page = await fetch(`${base}/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('app.js');

    await expect(RfbTestClient.websocket(`ws://127.0.0.1:${web.port}/websockify`)).rejects.toThrow(/HTTP 401/);
    const client = await RfbTestClient.websocket(`ws://127.0.0.1:${web.port}/websockify`, { cookie });
    const init = await client.handshake();
    client.requestFrame();
    expect((await client.readFrame()).bytes).toBe(init.width * init.height * 4);
    client.close();
  });
});
