/**
 * The WebSocket ↔ VNC bridge: every viewer WebSocket gets its own connection to QEMU's VNC unix
 * socket (QEMU runs `-vnc unix:<RUN_DIR>/vnc.sock,share=force-shared`, so several clients share
 * the screen and none pushes another off). VNC never listens on TCP; this bridge, behind the
 * viewer token, is the only way in.
 *
 * Bytes pass through unchanged as binary frames (noVNC reassembles the RFB stream itself), with
 * back-pressure both ways so that a slow browser never makes windock buffer without bound:
 *  - VNC → viewer: bytes handed to `ws.send` but not yet written to the TCP socket are counted
 *    (the send callback fires once they are); above `highWaterMark` the VNC socket is paused,
 *    below `lowWaterMark` it resumes. QEMU then throttles that client on its side (vnc.c only
 *    sends an update when the client's output buffer has drained).
 *  - viewer → VNC: when the unix socket's `write` returns false, the WebSocket's TCP socket is
 *    paused until the unix socket drains.
 * VIEW_ONLY runs the viewer's bytes through RfbInputFilter, which drops input messages.
 */
import { createConnection, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from '../core/log.js';
import type { Metrics } from './metrics.js';
import { RfbFilterError, RfbInputFilter } from './rfb-filter.js';

/** RFC 6455 §7.4.1 and the IANA WebSocket close code registry. */
const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

export interface VncBridgeOptions {
  vncSocket: string;
  log: Logger;
  viewOnly: boolean;
  metrics: Pick<Metrics, 'viewerOpened' | 'viewerClosed' | 'viewerBytes' | 'viewerInputDropped'>;
  /** Bytes queued toward one viewer before its VNC socket is paused (default 2 MiB). */
  highWaterMark?: number;
  /** Bytes queued toward one viewer at which its VNC socket resumes (default 512 KiB). */
  lowWaterMark?: number;
  /** Deadline of the connection to the VNC socket (default 5 s). */
  connectTimeoutMs?: number;
  /** A viewer that answers no ping within this time is dropped (default 30 s). */
  pingIntervalMs?: number;
  /** Viewers beyond this number are refused with 503 (default 64). */
  maxConnections?: number;
  /** Deadline of the WebSocket closing handshake before the TCP socket is cut (default 2 s). */
  closeTimeoutMs?: number;
}

/** One viewer's figures, for tests and debugging. */
export interface BridgeConnectionStats {
  id: number;
  /** Bytes handed to the WebSocket and not yet written to its TCP socket. */
  queuedToViewer: number;
  vncPaused: boolean;
  viewerPaused: boolean;
  bytesToViewer: number;
  bytesToVm: number;
  inputDropped: number;
}

interface Connection {
  stats: BridgeConnectionStats;
  ws: WebSocket;
  vnc: Socket;
  closed: Promise<void>;
}

export class VncBridge {
  readonly #options: Required<Omit<VncBridgeOptions, 'log' | 'metrics'>>;
  readonly #log: Logger;
  readonly #metrics: VncBridgeOptions['metrics'];
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  /** WebSockets whose VNC connection is still being made. */
  readonly #connecting = new Set<WebSocket>();
  #nextId = 1;
  #closing = false;

  constructor(options: VncBridgeOptions) {
    this.#options = {
      vncSocket: options.vncSocket,
      viewOnly: options.viewOnly,
      highWaterMark: options.highWaterMark ?? 2 * 2 ** 20,
      lowWaterMark: options.lowWaterMark ?? 512 * 2 ** 10,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      pingIntervalMs: options.pingIntervalMs ?? 30_000,
      maxConnections: options.maxConnections ?? 64,
      closeTimeoutMs: options.closeTimeoutMs ?? 2000,
    };
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#wss = new WebSocketServer({
      noServer: true,
      // The RFB stream is already encoded (and often compressed by the encoding itself): deflate
      // would cost CPU per frame and buffer inside zlib, out of reach of the back-pressure.
      perMessageDeflate: false,
      // Client messages are small; the largest is a clipboard paste.
      maxPayload: 16 * 2 ** 20,
      clientTracking: false,
      // websockify's old clients ask for the "binary" subprotocol; noVNC ≥ 1.0 asks for none.
      handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
    });
  }

  get size(): number {
    return this.#connections.size;
  }

  stats(): BridgeConnectionStats[] {
    return [...this.#connections].map((c) => ({ ...c.stats }));
  }

  /** Completes an already authorized upgrade request and bridges the new WebSocket. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing || this.#connections.size >= this.#options.maxConnections) {
      rejectUpgrade(socket, 503, 'Service Unavailable', this.#closing ? 'windock is stopping\n' : 'too many viewers\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
  }

  /** Closes every viewer (1001 going away) and its VNC connection; resolves when all are gone. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const ws of this.#connecting) closeWebSocket(ws, CLOSE.goingAway, 'windock is stopping', this.#options.closeTimeoutMs);
    const all = [...this.#connections];
    for (const c of all) {
      c.vnc.destroy();
      closeWebSocket(c.ws, CLOSE.goingAway, 'windock is stopping', this.#options.closeTimeoutMs);
    }
    await Promise.all(all.map((c) => c.closed));
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  /** Connects to QEMU's socket for a new WebSocket, then bridges the two. */
  #accept(ws: WebSocket, req: IncomingMessage): void {
    const o = this.#options;
    // From the first byte: a frame the protocol refuses (unmasked, oversized, a bad opcode or
    // close code) is an 'error' event, and one without a listener would throw. ws closes the
    // connection itself after it.
    ws.on('error', (error) => this.#log.debug({ reason: error.message }, 'viewer WebSocket failed'));
    // Nothing from the viewer may reach QEMU before the socket is connected.
    ws.pause();
    const abort = new AbortController();
    const onEarlyClose = (): void => abort.abort();
    ws.once('close', onEarlyClose);
    this.#connecting.add(ws);
    connectUnix(o.vncSocket, AbortSignal.any([abort.signal, AbortSignal.timeout(o.connectTimeoutMs)])).then(
      (vnc) => {
        this.#connecting.delete(ws);
        ws.off('close', onEarlyClose);
        if (ws.readyState !== ws.OPEN || this.#closing) {
          vnc.destroy();
          closeWebSocket(ws, CLOSE.goingAway, 'windock is stopping', o.closeTimeoutMs);
          return;
        }
        this.#bridge(ws, req, vnc);
      },
      (error: Error) => {
        this.#connecting.delete(ws);
        ws.off('close', onEarlyClose);
        // QEMU isn't up yet (or is restarting): the page retries.
        this.#log.warn({ socket: o.vncSocket, reason: error.message }, 'VNC socket not reachable');
        closeWebSocket(ws, CLOSE.tryAgainLater, 'VNC not available', o.closeTimeoutMs);
      },
    );
  }

  #bridge(ws: WebSocket, req: IncomingMessage, vnc: Socket): void {
    const o = this.#options;
    const id = this.#nextId++;
    const log = this.#log.child({ viewer: id, remote: req.socket.remoteAddress });
    const stats: BridgeConnectionStats = {
      id,
      queuedToViewer: 0,
      vncPaused: false,
      viewerPaused: false,
      bytesToViewer: 0,
      bytesToVm: 0,
      inputDropped: 0,
    };
    const filter = o.viewOnly ? new RfbInputFilter() : undefined;
    const opened = Date.now();
    let resolveClosed!: () => void;
    const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
    const connection: Connection = { stats, ws, vnc, closed };
    this.#connections.add(connection);
    this.#metrics.viewerOpened();
    log.info({ viewOnly: o.viewOnly, viewers: this.#connections.size }, 'viewer connected');
    ws.resume();

    vnc.on('data', (chunk: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      const length = chunk.length;
      stats.queuedToViewer += length;
      stats.bytesToViewer += length;
      this.#metrics.viewerBytes('to-viewer', length);
      ws.send(chunk, { binary: true }, () => {
        // Runs once the frame is written to the TCP socket (or the socket failed).
        stats.queuedToViewer -= length;
        if (stats.vncPaused && stats.queuedToViewer <= o.lowWaterMark) {
          stats.vncPaused = false;
          vnc.resume();
        }
      });
      if (!stats.vncPaused && stats.queuedToViewer > o.highWaterMark) {
        stats.vncPaused = true;
        vnc.pause();
      }
    });

    // Once the stream is refused, what is still in flight is dropped (and not logged again).
    let refused = false;
    const forward = (data: RawData, isBinary: boolean): void => {
      if (refused) return;
      if (!isBinary) {
        refused = true;
        closeWebSocket(ws, CLOSE.unsupportedData, 'binary frames only', o.closeTimeoutMs);
        return;
      }
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      let pieces: Buffer[] = [buffer];
      if (filter) {
        try {
          pieces = filter.push(buffer);
        } catch (error) {
          if (!(error instanceof RfbFilterError)) throw error;
          refused = true;
          log.warn({ reason: error.message }, 'view-only viewer sent an unparsable RFB stream; closing it');
          closeWebSocket(ws, CLOSE.policyViolation, 'unparsable RFB stream', o.closeTimeoutMs);
          vnc.destroy();
          return;
        }
        const dropped = filter.dropped - stats.inputDropped;
        if (dropped > 0) {
          stats.inputDropped = filter.dropped;
          this.#metrics.viewerInputDropped(dropped);
        }
      }
      for (const piece of pieces) {
        if (piece.length === 0) continue;
        stats.bytesToVm += piece.length;
        this.#metrics.viewerBytes('to-vm', piece.length);
        if (!vnc.write(piece) && !stats.viewerPaused) {
          stats.viewerPaused = true;
          ws.pause();
          vnc.once('drain', () => {
            stats.viewerPaused = false;
            ws.resume();
          });
        }
      }
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        forward(data, isBinary);
      } catch (error) {
        // A bug here must cost this viewer its connection, never windock its life.
        refused = true;
        log.error({ err: error }, 'viewer message handler failed; closing the viewer');
        closeWebSocket(ws, CLOSE.internalError, 'internal error', o.closeTimeoutMs);
        vnc.destroy();
      }
    });

    // A viewer that vanished without a FIN (network cut, sleeping laptop) is found by pings.
    let alive = true;
    ws.on('pong', () => (alive = true));
    const pinger = setInterval(() => {
      if (!alive) {
        log.info('viewer answered no ping; dropping it');
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, o.pingIntervalMs);
    pinger.unref();

    vnc.on('error', (error: NodeJS.ErrnoException) => log.debug({ reason: error.message }, 'VNC connection failed'));
    vnc.on('close', () => {
      // QEMU closed the client (quit, restart, a client it found too slow): the page reconnects.
      closeWebSocket(ws, this.#closing ? CLOSE.goingAway : CLOSE.internalError, 'VNC connection closed', o.closeTimeoutMs);
    });

    ws.on('close', (code: number) => {
      clearInterval(pinger);
      vnc.destroy();
      this.#connections.delete(connection);
      this.#metrics.viewerClosed();
      log.info(
        { code, seconds: Math.round((Date.now() - opened) / 100) / 10, bytesToViewer: stats.bytesToViewer, bytesToVm: stats.bytesToVm, inputDropped: stats.inputDropped },
        'viewer disconnected',
      );
      resolveClosed();
    });
  }
}

/**
 * Connects to a unix socket, retrying while its listen backlog is full: connect(2) on a unix
 * stream socket fails with EAGAIN instead of waiting then (unix(7)), and QEMU listens with a
 * backlog of 1, so twenty viewers opening at once would otherwise see spurious failures.
 */
export async function connectUnix(path: string, signal: AbortSignal): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = createConnection({ path });
        const onAbort = (): void => {
          socket.destroy(signal.reason as Error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          // The 'error' listener below stays: it covers the socket until the caller adds its own
          // (rejecting a settled promise does nothing).
          resolve(socket);
        });
        socket.once('error', (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        });
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(5 * 2 ** attempt, 100)));
    }
  }
}

/** Starts the closing handshake, and cuts the TCP connection if it doesn't finish in time. */
function closeWebSocket(ws: WebSocket, code: number, reason: string, timeoutMs: number): void {
  if (ws.readyState === ws.CLOSED) return;
  // A paused WebSocket would never read the peer's closing frame.
  ws.resume();
  if (ws.readyState === ws.OPEN) ws.close(code, reason);
  const timer = setTimeout(() => ws.terminate(), timeoutMs);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, statusText: string, body: string, headers: Record<string, string> = {}): void {
  // The answer may meet a reset; the caller's listener may not be there (tests, the bench).
  if (socket.listenerCount('error') === 0) socket.on('error', () => undefined);
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const lines = [
    `HTTP/1.1 ${status} ${statusText}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
  // A client that never reads would keep the answer (and the socket) unfinished forever.
  const timer = setTimeout(() => socket.destroy(), REJECT_TIMEOUT_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** How long a refused upgrade's answer may take to be written before the socket is cut. */
const REJECT_TIMEOUT_MS = 5_000;
