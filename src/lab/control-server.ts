/**
 * The supervisor's control socket: a unix socket in the private RUN_DIR (0700), itself 0600, so
 * only root in the container (`docker exec`) reaches it. JSON lines (control-protocol.ts). Each
 * request gets exactly one reply: a handler's throw becomes an error reply, a line that is too
 * long or not JSON gets one too, and a reply never waits past REQUEST_DEADLINE_MS.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { encodeReply, errorBody, MAX_REQUEST_BYTES, parseRequest, type ControlReply, type ControlRequest } from './control-protocol.js';

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

export interface ControlServer {
  readonly name: string;
  readonly path: string;
  close(): Promise<void>;
}

/** Longer than any snapshot job's own deadline (snapshots.ts), so that their error is what the client sees. */
const REQUEST_DEADLINE_MS = 11 * 60_000;

export async function startControlServer(path: string, handler: ControlHandler, log: Logger): Promise<ControlServer> {
  // A socket left by a crashed run would make listen fail with EADDRINUSE (house rule 9).
  await rm(path, { force: true });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, handler, log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.warn({ err: error.message }, 'control socket error'));
  await chmod(path, 0o600);
  log.info({ socket: path }, 'control socket listening');
  let closed = false;
  return {
    name: 'control socket',
    path,
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(path, { force: true }).catch(() => undefined);
    },
  };
}

function serveConnection(socket: Socket, handler: ControlHandler, log: Logger): void {
  socket.setEncoding('utf8');
  socket.on('error', () => undefined); // a client that went away; 'close' follows
  let buffer = '';
  // Requests on one connection are answered in order, one after the other.
  let queue: Promise<void> = Promise.resolve();
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line) queue = queue.then(() => answer(socket, line, handler, log));
    }
    if (Buffer.byteLength(buffer) > MAX_REQUEST_BYTES) {
      buffer = '';
      const reply: ControlReply = { ok: false, error: { code: 'config', message: `a control request may be at most ${MAX_REQUEST_BYTES} bytes` } };
      queue = queue.then(() => void socket.end(encodeReply(reply)));
    }
  });
}

async function answer(socket: Socket, line: string, handler: ControlHandler, log: Logger): Promise<void> {
  const parsed = parseRequest(line);
  let reply: ControlReply;
  if ('error' in parsed) {
    reply = { ok: false, error: parsed.error };
  } else {
    const { request } = parsed;
    log.info({ op: request.op, ...('name' in request ? { snapshot: request.name } : {}) }, 'control request');
    try {
      reply = { ok: true, result: await withDeadline(handler(request), REQUEST_DEADLINE_MS, request.op) };
    } catch (error) {
      reply = { ok: false, error: errorBody(error) };
      log.warn({ op: request.op, code: reply.error.code, err: reply.error.message }, 'control request failed');
    }
  }
  if (!socket.destroyed) socket.write(encodeReply(reply));
}

function withDeadline<T>(work: Promise<T>, ms: number, op: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('internal', `the ${op} request did not finish within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
