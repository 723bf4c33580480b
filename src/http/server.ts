/**
 * The HTTP server on WEB_PORT: answers the health endpoints itself (always open, no secrets) and
 * hands everything else to the viewer. It starts first, before any preparation, so that a
 * container downloading an ISO for twenty minutes already answers /health/live.
 *
 * Total by construction (issue 11): a target it cannot parse gets 400, a request node:http cannot
 * parse gets 400/408/431 (clientError), a handler that throws gets 500 (guard.ts), and every
 * upgrade socket has an 'error' listener before anyone writes to it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ListenOptions } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/log.js';
import type { StatusView } from '../supervisor/status.js';
import { failRequest, guardUpgrade } from './guard.js';
import { healthResponse, isHealthPath } from './health.js';
import { parseRequestTarget } from './request-target.js';
import { sendText } from './static.js';

/** What the server delegates to: the viewer (issue: browser viewer) or nothing. */
export interface RequestDelegate {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface WebServer {
  readonly port: number;
  /** Installs the viewer once it exists (the token needs STORAGE, which comes after the server). */
  setDelegate(delegate: RequestDelegate): void;
  close(): Promise<void>;
}

const STARTING_PAGE =
  '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>windock</title><p>windock is starting; the viewer is ready in a moment.</p>\n';

export interface WebServerOptions {
  port: number;
  host?: string;
  status: StatusView;
  log: Logger;
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const { log } = options;
  let delegate: RequestDelegate | undefined;
  const server: Server = createServer((req, res) => {
    try {
      respond(req, res, delegate, options.status);
    } catch (error) {
      failRequest(res, error, log, req.url);
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    guardUpgrade(req, socket, log, () => {
      if (delegate) delegate.upgrade(req, socket, head);
      else socket.destroy();
    }),
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, log));
  // Slow or idle clients must not pin sockets forever (a WebSocket is exempt once upgraded).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  await listen(server, options.port, options.host, log);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  log.info({ port, address: typeof address === 'object' && address ? address.address : undefined }, 'web server listening');
  return {
    port,
    setDelegate: (d) => {
      delegate = d;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function respond(req: IncomingMessage, res: ServerResponse, delegate: RequestDelegate | undefined, status: StatusView): void {
  const url = parseRequestTarget(req.url);
  if (url === undefined) {
    sendText(res, 400, 'bad request target\n', { Connection: 'close' });
    return;
  }
  const path = url.pathname;
  if (isHealthPath(path) && (req.method === 'GET' || req.method === 'HEAD')) {
    const { status: code, body } = healthResponse(path, status.snapshot);
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  if (!delegate) {
    // The viewer loads right after QEMU starts (or when a download begins): a browser that
    // came early reloads by itself.
    res.writeHead(503, { 'content-type': 'text/html; charset=utf-8', 'retry-after': '2', 'cache-control': 'no-store' });
    res.end(STARTING_PAGE);
    return;
  }
  if (delegate.handle(req, res)) return;
  sendText(res, 404, 'not found\n');
}

/**
 * What node:http answers by default to a request it cannot parse (lib/_http_server.js,
 * socketOnError), plus a debug log line: the status only when nothing was written yet (never
 * into the middle of a response), then the connection is closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, log: Logger): void {
  log.debug({ code: error.code, reason: error.message }, 'malformed request refused');
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
    : '400 Bad Request';
  const written = (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
  if (socket.writable && written === 0 && error.code !== 'ECONNRESET') {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}

/** errno codes of a host without IPv6 (kernel booted with ipv6.disable=1, or no IPv6 address at all). */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/**
 * Listens on `host`, or by default on every address: `::` dual-stack (IPv4 arrives as mapped
 * addresses), and on `0.0.0.0` where the host has no IPv6 at all.
 */
async function listen(server: Server, port: number, host: string | undefined, log: Logger): Promise<void> {
  if (host !== undefined) return listenOn(server, { port, host });
  try {
    await listenOn(server, { port, host: '::', ipv6Only: false });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || !NO_IPV6.has(code)) throw error;
    log.info({ code }, 'no IPv6 on this host: the web server listens on IPv4 only');
    await listenOn(server, { port, host: '0.0.0.0' });
  }
}

function listenOn(server: Server, options: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
