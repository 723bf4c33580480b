/**
 * Regression tests of the inputs that used to kill windock (issue 11), each against the real
 * `windock` binary while it downloads its boot media: the web server and the viewer are up,
 * QEMU (and so its VNC socket) is not yet. After each input windock must still be alive and
 * /health/live must answer 200. A token outside Latin-1 (which config validation now refuses
 * with exit 2) is tried on the real server and viewer in this process instead.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.js';
import { startWebServer } from '../../src/http/server.js';
import { createViewer } from '../../src/http/viewer.js';
import { createLogger } from '../../src/core/log.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { rawExchange, upgradeRequest, webSocketFrame, webSocketKey, type Step } from '../fixtures/raw-http.js';
import { freePort, httpStatus, killRuns, pollUntil, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

const TOKEN = 'crash-regression-token-0123456789';
const runs: WindockRun[] = [];
const dirs: string[] = [];
let media: TestHttpServer;
let windock: WindockRun;
let port: number;

beforeAll(async () => {
  // A download that crawls: windock stays in the downloading phase for the whole file.
  media = await startHttpServer(() => ({ kind: 'serve', file: { body: Buffer.alloc(64 * 2 ** 20) }, bytesPerSecond: 16 * 1024 }));
});

afterAll(async () => {
  await media?.close();
});

async function expectAlive(what: string): Promise<void> {
  const live = await httpStatus(`http://127.0.0.1:${port}/health/live`);
  expect(windock.child.exitCode, `windock exited after ${what}; log tail:\n${tail(windock.lines)}\n${windock.stderr()}`).toBeNull();
  expect(live.status, `/health/live after ${what}; log tail:\n${tail(windock.lines)}\n${windock.stderr()}`).toBe(200);
}

const exchange = (steps: Step[]) => rawExchange({ host: '127.0.0.1', port, capMs: 3_000, lingerMs: 300 }, steps);

describe('inputs that used to crash windock', () => {
  // One windock per test: on main, each of these inputs killed it.
  beforeEach(async () => {
    const dir = await tempDir('http-crash');
    dirs.push(dir);
    port = await freePort();
    windock = startWindock({ env: vmEnv(join(dir, 'storage'), join(dir, 'run'), port, { BOOT: media.url('/slow.iso'), WEB_AUTH: 'Y', WEB_TOKEN: TOKEN }) });
    runs.push(windock);
    // The viewer is loaded once the download begins: the status API answers for the token then.
    await pollUntil(
      () => fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.status, () => 0),
      (s) => s === 200,
      60_000,
    );
  });

  afterEach(async () => {
    await killRuns(runs, dirs);
  });

  it('a target that new URL() refuses (//x:99999/) is answered, on the health server and in the viewer', async () => {
    // An origin-form path that reads as an authority is just a path here (none served: 404);
    // a target that is no URL at all is a 400.
    const expected: [string, number][] = [['//x:99999/', 404], ['//[::1/', 404], ['//a:b@c:99999/?token=x', 404], ['http://x:99999/health', 400], ['*', 400]];
    for (const [target, status] of expected) {
      const r = await exchange([{ write: `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n` }]);
      expect(r.status, `${target}: ${r.received.toString('latin1')}`).toBe(status);
      const up = await exchange([{ write: upgradeRequest(target.replace(/\/$/, '/websockify'), webSocketKey(), [`Authorization: Bearer ${TOKEN}`]) }]);
      expect(up.status, `upgrade ${target}: ${up.received.toString('latin1')}`).toBe(status);
      await expectAlive(`GET ${target}`);
    }
  });

  it('a WebSocket upgrade answered 401 whose client resets the connection', async () => {
    for (let i = 0; i < 40; i++) {
      const request = upgradeRequest('/websockify', webSocketKey());
      // Reset at every point: before the answer, right after the first byte of it, after a pause.
      const steps: Step[][] = [
        [{ write: request }, { reset: true }],
        [{ write: request }, { waitFor: 1 }, { reset: true }],
        [{ write: request }, { pauseMs: i % 5 }, { reset: true }],
        [{ write: request.slice(0, 40) }, { reset: true }],
      ];
      const results = await Promise.all(steps.map((s) => exchange(s)));
      const answered = results.find((r) => r.status !== undefined);
      if (answered) expect(answered.status).toBe(401);
    }
    await expectAlive('401 upgrades reset by their clients');
  });

  it('an unmasked WebSocket frame while QEMU\'s VNC socket is not up closes that WebSocket only', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await exchange([
        { write: upgradeRequest('/websockify', webSocketKey(), [`Authorization: Bearer ${TOKEN}`]) },
        { waitForText: '\r\n\r\n' },
        { write: webSocketFrame({ opcode: 2, payload: Buffer.from('RFB 003.008\n'), mask: undefined }) },
        { pauseMs: 50 },
      ]);
      await expectAlive(`unmasked frame ${i + 1} with no VNC socket`);
      expect(r.status, r.received.toString('latin1')).toBe(101);
    }
  });
});

describe('a token outside Latin-1', () => {
  it('logs in (303 with a valid Set-Cookie), and the cookie then opens the page', async () => {
    const token = 'windock-tökén-令牌-✓-0123456789';
    const dir = await mkdtemp(join(tmpdir(), 'windock-latin1-'));
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', pretty: false, destination: { write: (l: string) => void lines.push(l) } });
    const status = new StatusStore();
    const web = await startWebServer({ port: 0, host: '127.0.0.1', status, log });
    const viewer = createViewer({ vncSocket: join(dir, 'none.sock'), status, log, auth: { token }, viewOnly: false, metrics: createMetrics(status) });
    web.setDelegate(viewer);
    try {
      const login = await rawExchange({ host: '127.0.0.1', port: web.port, capMs: 3_000, lingerMs: 300 }, [
        { write: `GET /?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n` },
      ]);
      const text = login.received.toString('latin1');
      expect(login.status, `${text}\n${lines.slice(-5).join('')}`).toBe(303);
      const cookie = /^set-cookie: ([^;\r]+)/im.exec(text)?.[1];
      expect(cookie, text).toBeDefined();
      const page = await fetch(`http://127.0.0.1:${web.port}/`, { headers: { cookie: cookie! } });
      expect(page.status).toBe(200);
      expect(lines.filter((l) => l.includes('handler failed'))).toEqual([]);
    } finally {
      await viewer.close();
      await web.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a handler that throws', () => {
  it('answers 500 (or cuts the connection once headers are out), logs the stack, and the server carries on', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', pretty: false, destination: { write: (l: string) => void lines.push(l) } });
    const web = await startWebServer({ port: 0, host: '127.0.0.1', status: new StatusStore(), log });
    web.setDelegate({
      handle(req, res) {
        if (req.url === '/late') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.write('partial');
        }
        throw new Error('handler bug');
      },
      upgrade() {
        throw new Error('upgrade bug');
      },
    });
    const at = { host: '127.0.0.1', port: web.port, capMs: 3_000, lingerMs: 300 };
    try {
      const early = await rawExchange(at, [{ write: 'GET /early?token=s3cret-in-query HTTP/1.1\r\nHost: a\r\n\r\n' }]);
      expect(early.status, early.received.toString('latin1')).toBe(500);
      const late = await rawExchange(at, [{ write: 'GET /late HTTP/1.1\r\nHost: a\r\n\r\n' }]);
      // Headers were sent (perhaps still corked in the socket): no 500 can follow, the connection is cut.
      expect(late.status).not.toBe(500);
      expect(late.ended, late.received.toString('latin1')).toBe('closed');
      const up = await rawExchange(at, [{ write: upgradeRequest('/websockify', webSocketKey()) }]);
      expect(up.ended).toBe('closed');
      expect((await fetch(`http://127.0.0.1:${web.port}/health/live`)).status).toBe(200);
      const failures = lines.map((l) => JSON.parse(l) as { msg: string; path?: string; err?: { stack?: string } }).filter((l) => /handler failed/.test(l.msg));
      expect(failures.map((l) => l.msg)).toEqual(['request handler failed', 'request handler failed', 'upgrade handler failed']);
      expect(failures[0]?.err?.stack).toContain('Error: handler bug');
      expect(failures[0]).toMatchObject({ path: '/early' });
      // The log line names the path, never the query: `?token=` carries the viewer token.
      expect(lines.join('')).not.toContain('s3cret-in-query');
    } finally {
      await web.close();
    }
  });
});
