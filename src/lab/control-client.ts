/**
 * The client side of the control socket, used by `windock snapshot|reset|export` inside the
 * container: one connection, one request, one reply, within a deadline.
 */
import { connect } from 'node:net';
import { AppError } from '../core/errors.js';
import { parseReply, type ControlReply, type ControlRequest } from './control-protocol.js';

/** No supervisor listens (no socket, or a stale one): distinct from a supervisor's error reply. */
export class NoSupervisorError extends AppError {
  constructor(path: string, cause: unknown) {
    super('config', `no windock supervisor answers on ${path}`, {
      hint: 'Run the command inside the running container: docker exec CONTAINER windock ... (RUN_DIR must be the supervisor\'s).',
      cause,
      details: { socket: path },
    });
  }
}

export function sendControlRequest(path: string, request: ControlRequest, timeoutMs: number): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffer = '';
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AppError('internal', `the supervisor did not answer the ${request.op} request within ${timeoutMs} ms`, { details: { socket: path } }));
    }, timeoutMs);
    const done = (action: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      action();
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf('\n');
      if (end >= 0) done(() => resolve(parseReply(buffer.slice(0, end))));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!connected && (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')) done(() => reject(new NoSupervisorError(path, error)));
      else done(() => reject(new AppError('internal', `the control socket ${path} failed: ${error.message}`, { cause: error })));
    });
    socket.on('close', () => done(() => reject(new AppError('internal', `the supervisor closed the control connection without a reply to ${request.op}`))));
  });
}
