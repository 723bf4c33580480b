/**
 * The last line of defence of the web server: nothing a client sends may end the process (issue
 * 11: a dead windock takes QEMU, and the guest's power, with it). A handler that throws, or whose
 * promise rejects, answers 500 when the headers are still unsent, else the connection is cut;
 * the error is logged with its stack. Sockets handed over outside node:http's own care (upgrade
 * sockets) get an 'error' listener, since an 'error' event without one throws.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/log.js';

const INTERNAL_ERROR_BODY = 'internal error\n';

/** Answers a request whose handler failed: 500 if still possible, else the connection is cut. */
export function failRequest(res: ServerResponse, error: unknown, log: Logger, url: string | undefined): void {
  log.error({ err: error, path: loggablePath(url) }, 'request handler failed');
  try {
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(500, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(INTERNAL_ERROR_BODY),
        'Cache-Control': 'no-store',
        Connection: 'close',
      });
      res.end(INTERNAL_ERROR_BODY);
      return;
    }
  } catch {
    // writeHead itself failed: cutting the connection is all that is left.
  }
  res.destroy();
}

/** Runs a handler's asynchronous part: a rejection answers like a throw. */
export function settle(work: Promise<unknown>, res: ServerResponse, log: Logger, url: string | undefined): void {
  work.catch((error: unknown) => failRequest(res, error, log, url));
}

const guarded = new WeakSet<Duplex>();

/** Errors of client sockets are the client's business: logged at debug level, never thrown. */
export function quietErrors(socket: Duplex, log: Logger): void {
  if (guarded.has(socket)) return;
  guarded.add(socket);
  socket.on('error', (error: NodeJS.ErrnoException) => log.debug({ code: error.code, reason: error.message }, 'client connection failed'));
}

/**
 * The request target as a log field: without its query (`?token=` carries the viewer token) and
 * bounded in length (a client chooses it).
 */
export function loggablePath(url: string | undefined): string | undefined {
  return url?.split('?', 1)[0]?.slice(0, 200);
}

/**
 * Runs an upgrade handler: the socket gets its 'error' listener first (node:http drops its own
 * from a socket it hands over), and a throw cuts the connection instead of ending the process.
 */
export function guardUpgrade(req: IncomingMessage, socket: Duplex, log: Logger, upgrade: () => void): void {
  quietErrors(socket, log);
  try {
    upgrade();
  } catch (error) {
    log.error({ err: error, path: loggablePath(req.url) }, 'upgrade handler failed');
    socket.destroy();
  }
}
