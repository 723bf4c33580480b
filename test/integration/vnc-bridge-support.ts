/**
 * Helpers for the viewer and bridge tests: a bare QEMU with a VNC unix socket, a node:http server
 * that delegates to the viewer as the lead's server does, and a minimal RFB client (RFC 6143)
 * that speaks either directly on the unix socket or through the bridge's WebSocket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createConnection, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Viewer } from '../../src/http/viewer.js';

export interface TestQemu {
  process: ChildProcess;
  pid: number;
  vncSocket: string;
  stop(): Promise<void>;
}

/**
 * `qemu-system-x86_64 -S`: stopped before the first instruction, yet the VGA device shows QEMU's
 * "Guest has not initialized the display (yet)" screen, which is enough for the bridge.
 */
export async function startQemu(dir: string, options: { args?: string[]; socketName?: string; paused?: boolean } = {}): Promise<TestQemu> {
  const vncSocket = join(dir, options.socketName ?? 'vnc.sock');
  const args = ['-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-vga', 'std', '-display', 'none',
    '-vnc', `unix:${vncSocket},share=force-shared`, '-m', '256', ...(options.args ?? [])];
  if (options.paused ?? true) args.push('-S');
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`qemu exited early: ${stderr}`);
    if (await access(vncSocket).then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`qemu made no VNC socket within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    process: child,
    pid: child.pid!,
    vncSocket,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface TestServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The wiring the lead's server.ts does: health is not ours, everything else goes to the viewer. */
export async function serveViewer(viewer: Viewer): Promise<TestServer> {
  const server = createServer((req, res) => {
    if (!viewer.handle(req, res)) {
      res.writeHead(404).end('not found\n');
    }
  });
  server.on('upgrade', (req, socket, head) => viewer.upgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await viewer.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A byte stream with `read(n)`, fed by either transport. */
class ByteQueue {
  #chunks: Buffer[] = [];
  #length = 0;
  #waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  #error: Error | undefined;

  get buffered(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    this.#wake();
  }

  fail(error: Error): void {
    this.#error ??= error;
    const w = this.#waiter;
    if (w && this.#length < w.n) {
      this.#waiter = undefined;
      w.reject(error);
    }
  }

  read(n: number): Promise<Buffer> {
    if (this.#length >= n) return Promise.resolve(this.#take(n));
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiter = { n, resolve, reject };
    });
  }

  #wake(): void {
    const w = this.#waiter;
    if (w && this.#length >= w.n) {
      this.#waiter = undefined;
      w.resolve(this.#take(w.n));
    }
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.#chunks[0]!;
        const take = Math.min(c.length, n - off);
        c.copy(out, off, 0, take);
        off += take;
        if (take === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(take);
      }
    }
    this.#length -= n;
    return out;
  }
}

export interface Frame {
  rects: number;
  /** Pixel bytes received (raw encoding). */
  bytes: number;
  /** Sum of all pixel bytes (a cheap fingerprint of the picture). */
  checksum: number;
}

/** A minimal RFB 3.8 client: no auth, raw encoding, 32 bpp. */
export class RfbTestClient {
  readonly queue = new ByteQueue();
  width = 0;
  height = 0;
  #write: (b: Buffer) => void;
  readonly #close: () => void;
  /** Resolves when the transport closed (either side). */
  readonly closed: Promise<void>;
  /** The underlying transport, for the slow-reader tests. */
  readonly transport: Socket | WebSocket;

  private constructor(transport: Socket | WebSocket, write: (b: Buffer) => void, close: () => void, closed: Promise<void>) {
    this.transport = transport;
    this.#write = write;
    this.#close = close;
    this.closed = closed;
  }

  static async unix(path: string): Promise<RfbTestClient> {
    const socket = createConnection({ path });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RfbTestClient(socket, (b) => socket.write(b), () => socket.destroy(), new Promise((r) => socket.once('close', () => r())));
    socket.on('data', (d: Buffer) => client.queue.push(d));
    socket.on('error', (e) => client.queue.fail(e));
    socket.on('close', () => client.queue.fail(new Error('unix socket closed')));
    return client;
  }

  static async websocket(url: string, headers: Record<string, string> = {}): Promise<RfbTestClient> {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    const client = new RfbTestClient(ws, (b) => ws.send(b), () => ws.terminate(), new Promise((r) => ws.once('close', () => r())));
    ws.on('message', (d: Buffer) => client.queue.push(d));
    ws.on('error', (e) => client.queue.fail(e));
    ws.on('close', (code: number, reason: Buffer) => client.queue.fail(new Error(`websocket closed: ${code} ${reason.toString()}`)));
    return client;
  }

  send(bytes: Buffer): void {
    this.#write(bytes);
  }

  close(): void {
    this.#close();
  }

  /** ProtocolVersion, security None, ClientInit (shared), ServerInit; then raw encoding at 32 bpp. */
  async handshake(): Promise<{ width: number; height: number; name: string }> {
    const version = (await this.queue.read(12)).toString('latin1');
    if (!version.startsWith('RFB 003.')) throw new Error(`not RFB: ${JSON.stringify(version)}`);
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const count = (await this.queue.read(1))[0]!;
    const types = [...(await this.queue.read(count))];
    if (!types.includes(1)) throw new Error(`no None security offered: ${types.join(',')}`);
    this.send(Buffer.from([1]));
    const result = (await this.queue.read(4)).readUInt32BE(0);
    if (result !== 0) throw new Error(`security result ${result}`);
    this.send(Buffer.from([1]));
    const init = await this.queue.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    const name = (await this.queue.read(init.readUInt32BE(20))).toString('utf8');
    // SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, 8-8-8 at 16/8/0.
    const pf = Buffer.alloc(20);
    pf[0] = 0;
    pf.set([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0], 4);
    this.send(pf);
    // SetEncodings: raw only, so a frame's size is exactly width × height × 4.
    const enc = Buffer.alloc(8);
    enc[0] = 2;
    enc.writeUInt16BE(1, 2);
    enc.writeInt32BE(0, 4);
    this.send(enc);
    return { width: this.width, height: this.height, name };
  }

  requestFrame(incremental = false): void {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b[1] = incremental ? 1 : 0;
    b.writeUInt16BE(this.width, 6);
    b.writeUInt16BE(this.height, 8);
    this.send(b);
  }

  keyEvent(keysym: number, down: boolean): void {
    const b = Buffer.alloc(8);
    b[0] = 4;
    b[1] = down ? 1 : 0;
    b.writeUInt32BE(keysym, 4);
    this.send(b);
  }

  pointerEvent(x: number, y: number, buttons: number): void {
    const b = Buffer.alloc(6);
    b[0] = 5;
    b[1] = buttons;
    b.writeUInt16BE(x, 2);
    b.writeUInt16BE(y, 4);
    this.send(b);
  }

  /** Reads server messages until one FramebufferUpdate has arrived whole. */
  async readFrame(): Promise<Frame> {
    for (;;) {
      const type = (await this.queue.read(1))[0]!;
      if (type === 0) {
        const header = await this.queue.read(3);
        const rects = header.readUInt16BE(1);
        let bytes = 0;
        let checksum = 0;
        for (let i = 0; i < rects; i++) {
          const r = await this.queue.read(12);
          const w = r.readUInt16BE(4);
          const h = r.readUInt16BE(6);
          const encoding = r.readInt32BE(8);
          if (encoding !== 0) throw new Error(`unexpected encoding ${encoding}`);
          const pixels = await this.queue.read(w * h * 4);
          bytes += pixels.length;
          for (let j = 0; j < pixels.length; j += 64) checksum = (checksum + pixels[j]!) >>> 0;
        }
        return { rects, bytes, checksum };
      }
      if (type === 2) continue; // Bell
      if (type === 3) {
        const h = await this.queue.read(7);
        await this.queue.read(h.readUInt32BE(3));
        continue;
      }
      throw new Error(`unexpected server message ${type}`);
    }
  }
}

/** TCP ports a process listens on, from /proc/net/tcp{,6} and the process's socket inodes. */
export async function tcpListenPortsOf(pid: number): Promise<number[]> {
  const { readdir, readlink, readFile } = await import('node:fs/promises');
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Column 3 is the state: 0A = LISTEN (include/net/tcp_states.h); column 9 the inode.
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}
