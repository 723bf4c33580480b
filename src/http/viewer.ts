/**
 * The browser viewer on WEB_PORT, everything but the health endpoints (the server answers those
 * itself and delegates the rest here):
 *
 *   GET /, /index.html          our page (web/index.html); `?token=` sets the cookie and redirects
 *   GET /app.js, /app.css, ...  our page's files (web/)
 *   GET /novnc/core/..., /novnc/vendor/...   the noVNC ES modules (@novnc/novnc)
 *   GET /api/status             the status snapshot as JSON (no secrets)
 *   GET /api/events             the same, pushed as Server-Sent Events on every change
 *   GET /metrics                Prometheus text format; open like /health (see metrics.ts)
 *   WebSocket /websockify       the VNC bridge
 *
 * Everything except /metrics requires the token (auth.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';
import type { Logger } from '../core/log.js';
import type { StatusSnapshot, StatusView } from '../supervisor/status.js';
import { createAuthorizer } from './auth.js';
import { failRequest, guardUpgrade, settle } from './guard.js';
import type { Metrics } from './metrics.js';
import { parseRequestTarget } from './request-target.js';
import { safeRelativePath, sendText, serveFile } from './static.js';
import { rejectUpgrade, VncBridge, type VncBridgeOptions } from './vnc-bridge.js';

export interface Viewer {
  /** Returns true when it handled the request (static files, the page, /metrics, 401s). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** WebSocket upgrade requests (e.g. /websockify); destroys the socket with a 401 when not authorized. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every viewer connection. */
  close(): Promise<void>;
}

export interface ViewerOptions {
  vncSocket: string;
  status: StatusView;
  log: Logger;
  /** `token: undefined` means WEB_AUTH=N. */
  auth: { token: string | undefined };
  viewOnly: boolean;
  metrics: Metrics;
  /** Directory of our page; defaults to the package's `web/`. */
  webRoot?: string;
  /** Directory of the @novnc/novnc package; defaults to the installed one. */
  novncRoot?: string;
  /** Bridge tuning (tests and the bench). */
  bridge?: Pick<VncBridgeOptions, 'highWaterMark' | 'lowWaterMark' | 'connectTimeoutMs' | 'pingIntervalMs' | 'maxConnections'>;
  /** Minimum milliseconds between two pushed status events per client (default 250). */
  eventIntervalMs?: number;
}

export const WEBSOCKET_PATH = '/websockify';

/**
 * The page's security headers. CSP: only our own scripts and styles, connections (the WebSocket,
 * the event stream) to this origin only; noVNC draws the cursor from data:/blob: URLs.
 * Referrer-Policy: the first load carries the token in its URL; it must not leak in a Referer.
 */
const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** Files of our page that may be fetched by name. */
const PAGE_FILES = new Set(['app.js', 'app.css', 'favicon.svg', 'snapshots.js']);

/** The Viewer, plus its bridge for figures (tests, the bench). */
export type ViewerWithBridge = Viewer & { readonly bridge: VncBridge };

export function createViewer(options: ViewerOptions): ViewerWithBridge {
  const log = options.log.child({ component: 'viewer' });
  const webRoot = realpathSync(options.webRoot ?? defaultWebRoot());
  const novncRoot = realpathSync(options.novncRoot ?? defaultNovncRoot());
  const authorizer = createAuthorizer(options.auth.token);
  const bridge = new VncBridge({
    vncSocket: options.vncSocket,
    log,
    viewOnly: options.viewOnly,
    metrics: options.metrics,
    ...options.bridge,
  });
  const events = new Set<ServerResponse>();
  const eventIntervalMs = options.eventIntervalMs ?? 250;

  const publicStatus = (s: StatusSnapshot) => statusBody(s, options.viewOnly);

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    try {
      return dispatch(req, res);
    } catch (error) {
      failRequest(res, error, log, req.url);
      return true;
    }
  }

  function dispatch(req: IncomingMessage, res: ServerResponse): boolean {
    const url = parseRequestTarget(req.url);
    if (url === undefined) {
      sendText(res, 400, 'bad request target\n', { Connection: 'close' });
      return true;
    }
    const path = url.pathname;
    const route = routeOf(path);
    if (route === undefined) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return true;
    }
    if (route === 'metrics') {
      const rendered = options.metrics.render().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': options.metrics.contentType, 'Cache-Control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (error: Error) => {
          log.error({ reason: error.message }, 'metrics could not be rendered');
          sendText(res, 500, 'metrics failed\n');
        },
      );
      settle(rendered, res, log, req.url);
      return true;
    }
    const auth = authorizer.check(req, url);
    if (!auth.ok) {
      unauthorized(res, route === 'page');
      return true;
    }
    if ('setCookie' in auth || (route === 'page' && url.searchParams.has('token'))) {
      // Drop the token from the address bar and the history: the cookie carries it from now on.
      res.writeHead(303, {
        Location: '/',
        ...('setCookie' in auth ? { 'Set-Cookie': auth.setCookie } : {}),
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
      });
      res.end();
      return true;
    }
    switch (route) {
      case 'page':
        settle(serveFile(req, res, webRoot, 'index.html', { headers: PAGE_HEADERS }), res, log, req.url);
        return true;
      case 'web':
        settle(serveFile(req, res, webRoot, path.slice(1)), res, log, req.url);
        return true;
      case 'novnc': {
        const relative = safeRelativePath(path.slice('/novnc/'.length));
        if (relative === undefined || !(relative.startsWith('core/') || relative.startsWith('vendor/'))) {
          sendText(res, 404, 'not found\n');
        } else {
          settle(serveFile(req, res, novncRoot, relative), res, log, req.url);
        }
        return true;
      }
      case 'status':
        sendJson(res, 200, publicStatus(options.status.snapshot));
        return true;
      case 'events':
        openEventStream(req, res);
        return true;
    }
  }

  function openEventStream(req: IncomingMessage, res: ServerResponse): void {
    // Server-Sent Events (HTML Living Standard §9.2): one `data:` line per snapshot. Updates are
    // coalesced to one per eventIntervalMs: a download reports progress far more often.
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    events.add(res);
    let timer: NodeJS.Timeout | undefined;
    let lastSent = 0;
    // A write after the stream ended would emit 'error' on the response (write after end).
    const write = (text: string): void => {
      if (!res.writableEnded && !res.destroyed) res.write(text);
    };
    res.on('error', (error) => log.debug({ reason: error.message }, 'event stream failed'));
    const send = (): void => {
      timer = undefined;
      lastSent = Date.now();
      write(`data: ${JSON.stringify(publicStatus(options.status.snapshot))}\n\n`);
    };
    send();
    const unsubscribe = options.status.subscribe(() => {
      if (timer !== undefined) return;
      timer = setTimeout(send, Math.max(0, lastSent + eventIntervalMs - Date.now()));
    });
    // A comment line every 15 s keeps proxies from closing an idle stream.
    const keepAlive = setInterval(() => write(': keep-alive\n\n'), 15_000);
    keepAlive.unref();
    const done = (): void => {
      unsubscribe();
      clearTimeout(timer);
      clearInterval(keepAlive);
      events.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Before anything is written: a client that resets the connection must not find the socket
    // without an 'error' listener (that throws). The server does it too; tests call this directly.
    guardUpgrade(req, socket, log, () => upgradeChecked(req, socket, head));
  }

  function upgradeChecked(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = parseRequestTarget(req.url);
    if (url === undefined) {
      rejectUpgrade(socket, 400, 'Bad Request', 'bad request target\n');
      return;
    }
    if (url.pathname !== WEBSOCKET_PATH) {
      rejectUpgrade(socket, 404, 'Not Found', 'not found\n');
      return;
    }
    if (!authorizer.check(req, url).ok) {
      log.info({ remote: req.socket.remoteAddress }, 'viewer WebSocket refused: no valid token');
      rejectUpgrade(socket, 401, 'Unauthorized', 'a valid viewer token is required\n', { 'WWW-Authenticate': 'Bearer realm="windock"' });
      return;
    }
    if (!sameOrigin(req)) {
      // Defence in depth for WEB_AUTH=N: a cross-site page must not drive the guest through the
      // user's browser (cross-site WebSocket hijacking). Browsers always send Origin here.
      log.info({ remote: req.socket.remoteAddress, origin: req.headers.origin }, 'viewer WebSocket refused: cross-origin');
      rejectUpgrade(socket, 403, 'Forbidden', 'cross-origin WebSocket refused\n');
      return;
    }
    bridge.handleUpgrade(req, socket, head);
  }

  async function close(): Promise<void> {
    for (const res of events) res.end();
    events.clear();
    await bridge.close();
  }

  return { handle, upgrade, close, bridge };
}

type Route = 'page' | 'web' | 'novnc' | 'status' | 'events' | 'metrics';

export function routeOf(path: string): Route | undefined {
  if (path === '/' || path === '/index.html') return 'page';
  if (path === '/metrics') return 'metrics';
  if (path === '/api/status') return 'status';
  if (path === '/api/events') return 'events';
  if (path.startsWith('/novnc/')) return 'novnc';
  if (PAGE_FILES.has(path.slice(1))) return 'web';
  return undefined;
}

/** The snapshot the page reads: everything /health shows, plus what the page needs to know. */
export function statusBody(s: StatusSnapshot, viewOnly: boolean): Record<string, unknown> {
  return {
    phase: s.phase,
    since: s.since,
    guestState: s.guestState ?? null,
    guestReachable: s.guestReachable,
    qemuRunning: s.qemuPid !== undefined,
    download: s.download ?? null,
    error: s.error ?? null,
    viewOnly,
  };
}

/** RFC 6454 origin of the request vs the host it was sent to (direct or through a proxy). */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let originHost: string;
  try {
    originHost = new URL(origin).host.toLowerCase();
  } catch {
    return false;
  }
  const forwarded = req.headers['x-forwarded-host'];
  const hosts = [req.headers.host, ...(Array.isArray(forwarded) ? forwarded : [forwarded])]
    .filter((h): h is string => typeof h === 'string')
    .flatMap((h) => h.split(',').map((x) => x.trim().toLowerCase()));
  return hosts.includes(originHost);
}

function unauthorized(res: ServerResponse, page: boolean): void {
  const headers = { 'WWW-Authenticate': 'Bearer realm="windock"' };
  if (!page) {
    sendText(res, 401, 'a valid viewer token is required\n', headers);
    return;
  }
  const body = `<!doctype html><meta charset="utf-8"><title>windock: token required</title>
<h1>A token is required</h1>
<p>Open the address windock printed in its log when it first started (<code>/?token=…</code>),
or find the token as <code>webToken</code> in <code>windock.json</code> in the storage directory.</p>\n`;
  res.writeHead(401, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...PAGE_HEADERS,
    ...headers,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

/** `web/` at the package root: two levels above this file in src/http and in dist/http. */
function defaultWebRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

/** The package's only export is core/rfb.js; its root is two levels above it. */
function defaultNovncRoot(): string {
  const require = createRequire(import.meta.url);
  return dirname(dirname(require.resolve('@novnc/novnc')));
}
