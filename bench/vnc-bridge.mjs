#!/usr/bin/env node
/**
 * VNC bridge cost: the same RFB stream read directly from a unix socket and through windock's
 * viewer (WebSocket on loopback → bridge → unix socket), side by side, in one run.
 *
 *   npm run build && node bench/vnc-bridge.mjs [frames=40] [rounds=5]
 *
 * QEMU paces its VNC output with its display refresh timer (30 ms, backing off to 3 s while the
 * screen is idle: ui/vnc.c VNC_REFRESH_INTERVAL_*), so timing the bridge against live QEMU would
 * measure that timer. Instead the bench records a real frame from QEMU (`-S`, `-vnc unix:…,
 * share=force-shared` as windock starts it) and replays it from a unix-socket RFB server that
 * answers each request at once (this file with --replay); both paths read that same stream.
 * The viewer and the replay server each run in their own process (--serve, --replay), so the
 * client under measurement shares no event loop with them.
 *
 * Figures (medians over alternating rounds):
 *  - throughput: `frames` whole-screen requests sent at once, raw 32 bpp frames (640×480 →
 *    1.17 MiB each) read to the last byte;
 *  - frame latency: one whole-screen request at a time, request to last byte;
 *  - round trip: a 1×1 request (a 20-byte answer): the latency the bridge adds per message.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';

async function serve(vncSocket) {
  // A normal exit on SIGINT, so that --cpu-prof (BENCH_PROF) writes its profile.
  process.on('SIGINT', () => process.exit(0));
  const { createServer } = await import('node:http');
  const { createViewer } = await import('../dist/http/viewer.js');
  const { createMetrics } = await import('../dist/http/metrics.js');
  const { createLogger } = await import('../dist/core/log.js');
  const { StatusStore } = await import('../dist/supervisor/status.js');
  const status = new StatusStore();
  const viewer = createViewer({
    vncSocket,
    status,
    log: createLogger({ level: 'info', pretty: false, destination: { write: () => undefined } }),
    auth: { token: undefined },
    viewOnly: false,
    metrics: createMetrics(status),
    // For experiments only: BENCH_HWM=<bytes> overrides the bridge's high-water mark.
    ...(process.env.BENCH_HWM ? { bridge: { highWaterMark: Number(process.env.BENCH_HWM), lowWaterMark: Number(process.env.BENCH_HWM) / 4 } } : {}),
  });
  const server = createServer((req, res) => viewer.handle(req, res) || res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => viewer.upgrade(req, socket, head));
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
}

async function bench(frames, rounds) {
  const dir = mkdtempSync(join(tmpdir(), 'windock-bench-vnc-'));
  const vncSocket = join(dir, 'vnc.sock');
  const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-vga', 'std', '-display', 'none',
    '-m', '128', '-S', '-vnc', `unix:${vncSocket},share=force-shared`], { stdio: 'ignore' });
  const replaySocket = join(dir, 'replay.sock');
  const recording = join(dir, 'frame.bin');
  const children = [qemu];
  try {
    for (let i = 0; !existsSync(vncSocket); i++) {
      if (i > 200) throw new Error('QEMU made no VNC socket');
      await sleep(50);
    }
    debug('qemu socket up');
    // Record one whole-screen raw frame from QEMU; note QEMU's own pace for context.
    const live = await RfbClient.unix(vncSocket);
    const screen = await live.handshake();
    const qemuTimes = [];
    let frame;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      live.request(0, 0, screen.width, screen.height);
      frame = await live.readFrameBytes();
      qemuTimes.push(performance.now() - t);
    }
    live.close();
    writeFileSync(recording, frame);
    debug('recorded');
    const replay = spawn(process.execPath, [new URL(import.meta.url).pathname, '--replay', replaySocket, recording, String(screen.width), String(screen.height)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(replay);
    await firstLine(replay.stdout);
    const server = spawn(process.execPath, [...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROF] : []), new URL(import.meta.url).pathname, '--serve', replaySocket], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    const { port } = JSON.parse(await firstLine(server.stdout));
    debug('viewer up');
    const wsUrl = `ws://127.0.0.1:${port}/websockify`;
    const results = { direct: [], bridge: [] };
    for (let round = 0; round < rounds; round++) {
      for (const kind of round % 2 === 0 ? ['direct', 'bridge'] : ['bridge', 'direct']) {
        const client = kind === 'direct' ? await RfbClient.unix(replaySocket) : await RfbClient.ws(wsUrl);
        debug(`round ${round} ${kind}`);
        results[kind].push(await measure(client, frames));
        client.close();
      }
    }
    const row = (label, pick, unit, digits) => {
      const d = median(results.direct.map(pick));
      const b = median(results.bridge.map(pick));
      console.log(`${label.padEnd(28)}${d.toFixed(digits).padStart(12)}${b.toFixed(digits).padStart(14)}${(b / d).toFixed(2).padStart(9)}  ${unit}`);
    };
    const { width, height } = results.direct[0];
    console.log(`QEMU itself (live, -S, direct unix): whole-screen frame in ${median(qemuTimes).toFixed(0)} ms median (its refresh timer)`);
    console.log(`VNC bridge vs direct unix socket, replayed QEMU frame ${width}×${height} raw (${((width * height * 4) / 2 ** 20).toFixed(2)} MiB); ${frames} frames, ${frames * 5} round trips per round; ${rounds} rounds; medians`);
    console.log(`${''.padEnd(28)}${'direct unix'.padStart(12)}${'via bridge'.padStart(14)}${'ratio'.padStart(9)}`);
    row('throughput (pipelined)', (r) => r.mibPerSecond, 'MiB/s', 1);
    row('frame latency (one by one)', (r) => r.frameMs, 'ms', 2);
    row('1×1 round trip', (r) => r.roundTripUs, 'µs', 0);
    const added = median(results.bridge.map((r) => r.roundTripUs)) - median(results.direct.map((r) => r.roundTripUs));
    console.log(`added latency per message: ${added.toFixed(0)} µs`);
  } finally {
    for (const child of children) child.kill('SIGINT');
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(client, frames) {
  const { width, height } = await client.handshake();
  client.request(0, 0, width, height);
  await client.readFrame(); // warm-up
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < frames; i++) client.request(0, 0, width, height);
  for (let i = 0; i < frames; i++) bytes += await client.readFrame();
  const seconds = (performance.now() - start) / 1000;
  const times = [];
  for (let i = 0; i < frames; i++) {
    const t = performance.now();
    client.request(0, 0, width, height);
    await client.readFrame();
    times.push(performance.now() - t);
  }
  const trips = [];
  for (let i = 0; i < frames * 5; i++) {
    const t = performance.now();
    client.request(0, 0, 1, 1);
    await client.readFrame();
    trips.push((performance.now() - t) * 1000);
  }
  return { width, height, frameMs: median(times), mibPerSecond: bytes / 2 ** 20 / seconds, roundTripUs: median(trips) };
}

class RfbClient {
  #chunks = [];
  #length = 0;
  #waiter;
  #send;
  #close;

  static async unix(path) {
    const socket = createConnection({ path });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new RfbClient((b) => socket.write(b), () => socket.destroy());
    socket.on('data', (d) => c.push(d));
    return c;
  }

  static async ws(url) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const c = new RfbClient((b) => ws.send(b), () => ws.terminate());
    ws.on('message', (d) => c.push(d));
    return c;
  }

  constructor(send, close) {
    this.#send = send;
    this.#close = close;
  }

  close() {
    this.#close();
  }

  push(chunk) {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#waiter && this.#length >= this.#waiter.n) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(this.#take(w.n));
    }
  }

  /** Takes n bytes off the front, copying only when they span several chunks. */
  #take(n) {
    const first = this.#chunks[0];
    let out;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.#chunks[0];
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

  read(n) {
    if (this.#length >= n) return Promise.resolve(this.#take(n));
    return new Promise((resolve) => (this.#waiter = { n, resolve }));
  }

  async handshake() {
    await this.read(12);
    this.#send(Buffer.from('RFB 003.008\n'));
    const count = (await this.read(1))[0];
    await this.read(count);
    this.#send(Buffer.from([1]));
    await this.read(4);
    this.#send(Buffer.from([1]));
    const init = await this.read(24);
    await this.read(init.readUInt32BE(20));
    const pf = Buffer.alloc(20);
    pf.set([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0], 4);
    this.#send(pf);
    this.#send(Buffer.from([2, 0, 0, 1, 0, 0, 0, 0])); // SetEncodings: raw
    return { width: init.readUInt16BE(0), height: init.readUInt16BE(2) };
  }

  request(x, y, w, h) {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b.writeUInt16BE(x, 2);
    b.writeUInt16BE(y, 4);
    b.writeUInt16BE(w, 6);
    b.writeUInt16BE(h, 8);
    this.#send(b);
  }

  /** Reads one FramebufferUpdate (raw rectangles only) whole, as it came. */
  async readFrameBytes() {
    const parts = [await this.read(4)];
    if (parts[0][0] !== 0) throw new Error(`unexpected server message ${parts[0][0]}`);
    for (let i = parts[0].readUInt16BE(2); i > 0; i--) {
      const r = await this.read(12);
      parts.push(Buffer.from(r), Buffer.from(await this.read(r.readUInt16BE(4) * r.readUInt16BE(6) * 4)));
    }
    return Buffer.concat(parts);
  }

  /** Reads one FramebufferUpdate (raw rectangles only); returns its pixel bytes. */
  async readFrame() {
    const header = await this.read(4);
    if (header[0] !== 0) throw new Error(`unexpected server message ${header[0]}`);
    let bytes = 0;
    for (let i = header.readUInt16BE(2); i > 0; i--) {
      const r = await this.read(12);
      const n = r.readUInt16BE(4) * r.readUInt16BE(6) * 4;
      // Large reads in slices: the frame is consumed as it arrives, as a viewer would.
      for (let left = n; left > 0; left -= Math.min(left, 65536)) await this.read(Math.min(left, 65536));
      bytes += n;
    }
    return bytes;
  }
}

/**
 * A unix-socket RFB 3.8 server that answers at once: the handshake (no security, 32 bpp), then
 * for each FramebufferUpdateRequest the recorded whole-screen frame, or a synthesized raw frame
 * of the requested size when it isn't the whole screen. Writes respect back-pressure.
 */
async function replay(path, recording, width, height) {
  const { createServer } = await import('node:net');
  const frame = readFileSync(recording);
  const name = Buffer.from('windock-bench');
  const init = Buffer.alloc(24);
  init.writeUInt16BE(width, 0);
  init.writeUInt16BE(height, 2);
  init.set([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0], 4);
  init.writeUInt32BE(name.length, 20);
  const server = createServer((socket) => {
    const c = new RfbClient((b) => socket.write(b), () => socket.destroy());
    socket.on('data', (d) => c.push(d));
    socket.on('error', () => undefined);
    (async () => {
      socket.write('RFB 003.008\n');
      await c.read(12);
      socket.write(Buffer.from([1, 1]));
      await c.read(1);
      socket.write(Buffer.alloc(4));
      await c.read(1);
      socket.write(Buffer.concat([init, name]));
      for (;;) {
        const type = (await c.read(1))[0];
        if (type === 0) await c.read(19);
        else if (type === 2) await c.read(4 * (await c.read(3)).readUInt16BE(1));
        else if (type === 3) {
          const r = await c.read(9);
          const w = r.readUInt16BE(5);
          const h = r.readUInt16BE(7);
          let answer = frame;
          if (w !== width || h !== height) {
            answer = Buffer.alloc(16 + w * h * 4);
            answer.writeUInt16BE(1, 2);
            answer.writeUInt16BE(w, 8);
            answer.writeUInt16BE(h, 10);
          }
          if (!socket.write(answer)) await new Promise((resolve) => socket.once('drain', resolve));
        } else throw new Error(`replay: unexpected client message ${type}`);
      }
    })().catch(() => socket.destroy());
  });
  server.listen(path, () => process.stdout.write('ready\n'));
}

function firstLine(stream) {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: stream });
    rl.once('line', (line) => {
      rl.close();
      resolve(line);
    });
    stream.once('end', () => reject(new Error('the viewer process printed nothing')));
  });
}

function debug(stage) {
  if (process.env.BENCH_DEBUG) process.stderr.write(`bench: ${stage}\n`);
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Last: the class above must be initialized before the entry point runs (top-level await).
if (process.argv[2] === '--serve') {
  await serve(process.argv[3]);
} else if (process.argv[2] === '--replay') {
  await replay(process.argv[3], process.argv[4], Number(process.argv[5]), Number(process.argv[6]));
} else {
  await bench(Number(process.argv[2] ?? 40), Number(process.argv[3] ?? 5));
}
