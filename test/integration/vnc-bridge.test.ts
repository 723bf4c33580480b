/**
 * The VNC bridge against a real QEMU VNC unix socket: frames through the bridge equal frames read
 * directly, back-pressure holds a slow viewer's queue, abrupt disconnects on either side clean up,
 * 20 viewers at once, view-only drops input, and QEMU's VNC is not on TCP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { tokenCookieName } from '../../src/http/auth.js';
import { createMetrics } from '../../src/http/metrics.js';
import { createViewer, type ViewerWithBridge } from '../../src/http/viewer.js';
import { createLogger } from '../../src/core/log.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { RfbTestClient, serveViewer, startQemu, tcpListenPortsOf, type TestQemu, type TestServer } from './vnc-bridge-support.js';

const TOKEN = 'bridge-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const log = createLogger({ level: 'info', pretty: false, destination: { write: () => undefined } });
const HIGH = 1 * 2 ** 20;

let dir: string;
let qemu: TestQemu;
const cleanups: (() => Promise<void>)[] = [];

async function setup(viewOnly = false, vncSocket = qemu.vncSocket): Promise<{ viewer: ViewerWithBridge; server: TestServer; metrics: ReturnType<typeof createMetrics>; ws: string }> {
  const status = new StatusStore();
  const metrics = createMetrics(status);
  const viewer = createViewer({
    vncSocket,
    status,
    log,
    auth: { token: TOKEN },
    viewOnly,
    metrics,
    bridge: { highWaterMark: HIGH, lowWaterMark: HIGH / 4, maxConnections: 64 },
  });
  const server = await serveViewer(viewer);
  cleanups.push(() => server.close());
  return { viewer, server, metrics, ws: `ws://127.0.0.1:${server.port}/websockify` };
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-bridge-'));
  qemu = await startQemu(dir);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});
afterAll(async () => {
  await qemu?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('VNC bridge', () => {
  it('QEMU serves VNC on its unix socket only, never on TCP', async () => {
    expect(await tcpListenPortsOf(qemu.pid)).toEqual([]);
  });

  it('carries large raw frames byte for byte, identical to a direct socket read', async () => {
    const { ws } = await setup();
    const direct = await RfbTestClient.unix(qemu.vncSocket);
    const bridged = await RfbTestClient.websocket(ws, auth);
    const a = await direct.handshake();
    const b = await bridged.handshake();
    expect(b).toEqual(a);
    expect(a.width * a.height).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      direct.requestFrame();
      bridged.requestFrame();
      const [fa, fb] = await Promise.all([direct.readFrame(), bridged.readFrame()]);
      expect(fb.bytes).toBe(a.width * a.height * 4);
      expect(fb).toEqual(fa);
    }
    direct.close();
    bridged.close();
  });

  it('a viewer that stops reading never makes the bridge queue more than its high-water mark', async () => {
    const { viewer, ws } = await setup();
    const slow = await RfbTestClient.websocket(ws, auth);
    const { width, height } = await slow.handshake();
    slow.requestFrame();
    await slow.readFrame();
    // Stop reading: the kernel buffers fill, then the bridge's queue, then QEMU is throttled.
    (slow.transport as WebSocket).pause();
    const rssBefore = process.memoryUsage().rss;
    let maxQueued = 0;
    let sawPaused = false;
    const frameBytes = width * height * 4;
    for (let i = 0; i < 40; i++) {
      slow.requestFrame(false);
      await new Promise((r) => setTimeout(r, 50));
      for (const s of viewer.bridge.stats()) {
        maxQueued = Math.max(maxQueued, s.queuedToViewer);
        sawPaused ||= s.vncPaused;
      }
    }
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    console.log(`slow viewer: 40 frame requests of ${frameBytes} bytes; bridge queue max ${maxQueued} bytes (high-water ${HIGH}); RSS growth ${(rssGrowth / 2 ** 20).toFixed(1)} MiB`);
    expect(sawPaused).toBe(true);
    // One socket read (at most 64 KiB) may land after the pause decision.
    expect(maxQueued).toBeLessThanOrEqual(HIGH + 64 * 2 ** 10);
    expect(rssGrowth).toBeLessThan(40 * frameBytes);
    // Reading again: the stream resumes intact.
    (slow.transport as WebSocket).resume();
    const frame = await slow.readFrame();
    expect(frame.bytes).toBe(frameBytes);
    await until('queue drained', () => viewer.bridge.stats().every((s) => !s.vncPaused));
    slow.close();
  });

  it('a viewer vanishing mid-frame closes its VNC connection, and QEMU keeps serving others', async () => {
    const { viewer, ws } = await setup();
    const gone = await RfbTestClient.websocket(ws, auth);
    await gone.handshake();
    gone.requestFrame();
    await gone.queue.read(1000); // partway into a frame
    (gone.transport as WebSocket).terminate();
    await until('bridge empty', () => viewer.bridge.size === 0);
    const next = await RfbTestClient.websocket(ws, auth);
    await next.handshake();
    next.requestFrame();
    expect((await next.readFrame()).bytes).toBeGreaterThan(0);
    next.close();
  });

  it('QEMU going away closes every viewer with 1011 and the bridge forgets them', async () => {
    const own = await startQemu(dir, { socketName: 'dying.sock' });
    try {
      const { viewer, ws } = await setup(false, own.vncSocket);
      const client = await RfbTestClient.websocket(ws, auth);
      await client.handshake();
      const code = new Promise<number>((r) => (client.transport as WebSocket).once('close', (c: number) => r(c)));
      await own.stop();
      expect(await code).toBe(1011);
      await until('bridge empty', () => viewer.bridge.size === 0);
    } finally {
      await own.stop();
    }
  });

  it('no VNC socket (QEMU not started yet): the WebSocket closes with 1013 try again later', async () => {
    const { viewer, ws } = await setup(false, join(dir, 'missing.sock'));
    const client = new WebSocket(ws, { headers: auth });
    const code = await new Promise<number>((r) => client.once('close', (c: number) => r(c)));
    expect(code).toBe(1013);
    await until('bridge empty', () => viewer.bridge.size === 0);
  });

  it('serves 20 viewers at once', async () => {
    const { viewer, ws, metrics } = await setup();
    const clients = await Promise.all(Array.from({ length: 20 }, () => RfbTestClient.websocket(ws, auth)));
    const inits = await Promise.all(clients.map((c) => c.handshake()));
    expect(viewer.bridge.size).toBe(20);
    expect(await metrics.render()).toMatch(/^windock_viewer_connections 20$/m);
    for (let round = 0; round < 3; round++) {
      for (const c of clients) c.requestFrame();
      const frames = await Promise.all(clients.map((c) => c.readFrame()));
      for (const [i, f] of frames.entries()) expect(f.bytes).toBe(inits[i]!.width * inits[i]!.height * 4);
      expect(new Set(frames.map((f) => f.checksum)).size).toBe(1);
    }
    for (const c of clients) c.close();
    await until('all closed', () => viewer.bridge.size === 0);
    expect(await metrics.render()).toMatch(/^windock_viewer_connections 0$/m);
  });

  it('view-only: input messages are dropped before QEMU, frame requests still work', async () => {
    const { viewer, ws, metrics } = await setup(true);
    const client = await RfbTestClient.websocket(ws, auth);
    await client.handshake();
    client.keyEvent(0x61, true);
    client.keyEvent(0x61, false);
    client.pointerEvent(10, 10, 1);
    client.requestFrame();
    expect((await client.readFrame()).bytes).toBeGreaterThan(0);
    await until('drops counted', () => viewer.bridge.stats()[0]?.inputDropped === 3);
    expect(await metrics.render()).toMatch(/^windock_viewer_input_dropped_total 3$/m);
    // A stream the filter cannot parse is cut, not passed through.
    const code = new Promise<number>((r) => (client.transport as WebSocket).once('close', (c: number) => r(c)));
    client.send(Buffer.from([99, 0, 0, 0]));
    expect(await code).toBe(1008);
  });

  it('refuses an upgrade without a valid token: 401 and no WebSocket', async () => {
    const { viewer, ws } = await setup();
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { cookie: `${tokenCookieName(TOKEN)}=wrong` }]) {
      const client = new WebSocket(ws, { headers });
      const status = await new Promise<number>((resolve, reject) => {
        client.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        client.once('open', () => reject(new Error('opened without a token')));
        client.once('error', () => undefined);
      });
      expect(status).toBe(401);
    }
    expect(viewer.bridge.size).toBe(0);
    const withCookie = await RfbTestClient.websocket(ws, { cookie: `${tokenCookieName(TOKEN)}=${TOKEN}` });
    await withCookie.handshake();
    withCookie.close();
  });

  it('close() ends every viewer with 1001 going away', async () => {
    const { viewer, ws } = await setup();
    const clients = await Promise.all([1, 2, 3].map(() => RfbTestClient.websocket(ws, auth)));
    await Promise.all(clients.map((c) => c.handshake()));
    const codes = clients.map((c) => new Promise<number>((r) => (c.transport as WebSocket).once('close', (code: number) => r(code))));
    await viewer.close();
    expect(await Promise.all(codes)).toEqual([1001, 1001, 1001]);
    expect(viewer.bridge.size).toBe(0);
  });
});
