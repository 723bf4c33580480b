/**
 * The HTTP server on WEB_PORT: answers the health endpoints itself (always open, no secrets) and
 * hands everything else to the viewer. It starts first, before any preparation, so that a
 * container downloading an ISO for twenty minutes already answers /health/live.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { StatusStore } from '../supervisor/status.js';
import { healthResponse, isHealthPath } from './health.js';

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
  status: StatusStore;
  log: Logger;
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  let delegate: RequestDelegate | undefined;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (isHealthPath(path) && (req.method === 'GET' || req.method === 'HEAD')) {
      const { status, body } = healthResponse(path, options.status.snapshot);
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
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
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  });
  server.on('upgrade', (req, socket, head) => {
    if (delegate) delegate.upgrade(req, socket, head);
    else socket.destroy();
  });
  // Slow or idle clients must not pin sockets forever (a WebSocket is exempt once upgraded).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host ?? '::', ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  options.log.info({ port }, 'web server listening');
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
