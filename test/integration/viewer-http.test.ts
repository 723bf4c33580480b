/**
 * The viewer's HTTP side on a real loopback server: token → cookie → page, 401s, static files
 * (MIME types, ETag revalidation, traversal attempts, symlinks out of the root), /metrics open,
 * /api/status and the /api/events stream.
 */
import { mkdtemp, rm, symlink, writeFile, cp } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenCookieName } from '../../src/http/auth.js';
import { createMetrics } from '../../src/http/metrics.js';
import { createViewer } from '../../src/http/viewer.js';
import { createLogger } from '../../src/core/log.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { serveViewer, type TestServer } from './vnc-bridge-support.js';

const TOKEN = 'viewer-http-token';
const cookie = `${tokenCookieName(TOKEN)}=${TOKEN}`;
let dir: string;
let server: TestServer;
let status: StatusStore;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request (fetch would normalize "..", which is exactly what we want to send). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-viewer-http-'));
  // A copy of web/ with a symlink pointing out of it, and a secret next to it.
  await cp(join(import.meta.dirname, '..', '..', 'web'), join(dir, 'web'), { recursive: true });
  await writeFile(join(dir, 'secret.js'), 'secret');
  await symlink(join(dir, 'secret.js'), join(dir, 'web', 'app.css'), 'file').catch(async () => {
    await rm(join(dir, 'web', 'app.css'));
    await symlink(join(dir, 'secret.js'), join(dir, 'web', 'app.css'), 'file');
  });
  status = new StatusStore();
  const viewer = createViewer({
    vncSocket: join(dir, 'none.sock'),
    status,
    log: createLogger({ level: 'info', pretty: false, destination: { write: () => undefined } }),
    auth: { token: TOKEN },
    viewOnly: false,
    metrics: createMetrics(status),
    webRoot: join(dir, 'web'),
    eventIntervalMs: 50,
  });
  server = await serveViewer(viewer);
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('viewer over HTTP', () => {
  it('a page load with ?token= sets an HttpOnly SameSite=Strict cookie and redirects to drop it from the URL', async () => {
    const r = await get(`/?token=${TOKEN}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
    expect(String(r.headers['set-cookie'])).toMatch(/^windock_token_[0-9a-f]{8}=viewer-http-token; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    // Already signed in by cookie: a stale ?token= in a bookmark is dropped from the URL too.
    const again = await get(`/?token=${TOKEN}`, { cookie });
    expect(again.status).toBe(303);
    const page = await get('/', { cookie });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toContain('<script type="module" src="app.js">');
  });

  it('refuses without a valid token: 401 for the page, the assets, the status and the events', async () => {
    for (const path of ['/', '/app.js', '/novnc/core/rfb.js', '/api/status', '/api/events', `/?token=wrong`]) {
      const r = await get(path, path === '/app.js' ? { cookie: `${tokenCookieName(TOKEN)}=wrong` } : {});
      expect(r.status, path).toBe(401);
      expect(r.body).not.toContain(TOKEN);
    }
    expect((await get('/', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('serves noVNC modules and our files with their MIME types, nosniff and ETag revalidation', async () => {
    const rfb = await get('/novnc/core/rfb.js', { cookie });
    expect(rfb.status).toBe(200);
    expect(rfb.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(rfb.headers['x-content-type-options']).toBe('nosniff');
    expect(rfb.headers['cache-control']).toBe('private, no-cache');
    expect(rfb.body).toContain('export default class RFB');
    const again = await get('/novnc/core/rfb.js', { cookie, 'if-none-match': String(rfb.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const pako = await get('/novnc/vendor/pako/lib/zlib/inflate.js', { cookie });
    expect(pako.status).toBe(200);
    const app = await get('/app.js', { cookie });
    expect(app.status).toBe(200);
    expect(app.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const icon = await get('/favicon.svg', { cookie });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    const head = await get('/app.js', { cookie }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(app.body));
  });

  it('never serves a file outside its directory', async () => {
    for (const path of [
      '/novnc/../package.json',
      '/novnc/%2e%2e/package.json',
      '/novnc/core/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/novnc/core/..%2f..%2fpackage.json',
      '/novnc/package.json',
      '/novnc/docs/API.md',
      '/novnc/core/rfb.js%00.js',
      '/novnc/core/does-not-exist.js',
      '/app.css', // a symlink to a file outside web/
    ]) {
      const r = await get(path, { cookie });
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain('secret');
      expect(r.body).not.toContain('"name"');
    }
    expect((await get('/novnc/core/rfb.js', { cookie }, 'POST')).status).toBe(405);
  });

  it('/metrics is open, like /health, and in Prometheus format', async () => {
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toMatch(/^windock_phase\{phase="preparing"\} 1$/m);
    expect(r.body).not.toContain(TOKEN);
  });

  it('/api/status shows the snapshot; /api/events pushes each change', async () => {
    status.update({ phase: 'downloading', download: { file: 'x.iso', bytesDone: 10, bytesTotal: 100, bytesPerSecond: 5, etaSeconds: 18 } });
    const r = await get('/api/status', { cookie });
    expect(JSON.parse(r.body)).toMatchObject({ phase: 'downloading', download: { bytesDone: 10 }, viewOnly: false });

    const events: { phase: string; download: { bytesDone: number } | null }[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/api/events', headers: { cookie } }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buffer += d;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (!event.startsWith('data: ')) continue;
            events.push(JSON.parse(event.slice(6)) as (typeof events)[number]);
            if (events.length === 1) status.update({ download: { file: 'x.iso', bytesDone: 50, bytesTotal: 100, bytesPerSecond: 5, etaSeconds: 10 } });
            if (events.length === 2) status.update({ phase: 'starting', download: undefined });
            if (events.at(-1)?.phase === 'starting') {
              req.destroy();
              resolve();
            }
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(events.map((e) => [e.phase, e.download?.bytesDone ?? null])).toEqual([
      ['downloading', 10],
      ['downloading', 50],
      ['starting', null],
    ]);
  });
});
