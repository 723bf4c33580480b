/**
 * The control socket with real unix sockets: its mode, and that every request gets exactly one
 * reply — bad JSON, unknown ops, a handler that throws, an over-long line — without the server
 * going down.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { sendControlRequest, NoSupervisorError } from '../../src/lab/control-client.js';
import { MAX_REQUEST_BYTES, type ControlRequest } from '../../src/lab/control-protocol.js';
import { startControlServer, type ControlServer } from '../../src/lab/control-server.js';

const log = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function server(handler: (r: ControlRequest) => Promise<unknown>): Promise<ControlServer> {
  const dir = await mkdtemp(join(tmpdir(), 'windock-control-'));
  const s = await startControlServer(join(dir, 'control.sock'), handler, log);
  cleanup.push(() => rm(dir, { recursive: true, force: true }), () => s.close());
  return s;
}

/** Writes raw text and collects `count` reply lines. */
function exchange(path: string, text: string, count: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: string) => {
      data += chunk;
      const lines = data.split('\n').filter(Boolean);
      if (lines.length >= count) {
        socket.destroy();
        resolve(lines.map((l) => JSON.parse(l) as unknown));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(data)}`)));
    setTimeout(() => reject(new Error(`no ${count} replies: ${JSON.stringify(data)}`)), 5_000).unref();
  });
}

it('listens on a 0600 socket and answers each line of a connection in order', async () => {
  const s = await server(async (r) => ({ echo: r.op }));
  expect((await stat(s.path)).mode & 0o777).toBe(0o600);
  const replies = await exchange(s.path, '{"op":"status"}\nnot json\n{"op":"drop-tables"}\n\n{"op":"snapshot-list"}\n', 4);
  expect(replies).toEqual([
    { ok: true, result: { echo: 'status' } },
    { ok: false, error: expect.objectContaining({ code: 'config', message: expect.stringContaining('one JSON object per line') }) },
    { ok: false, error: expect.objectContaining({ code: 'config', message: expect.stringContaining('"drop-tables"') }) },
    { ok: true, result: { echo: 'snapshot-list' } },
  ]);
});

it('turns a handler that throws into an error reply and keeps serving', async () => {
  const s = await server(async (r) => {
    if (r.op === 'reset') throw new TypeError('a bug');
    return 'fine';
  });
  expect(await sendControlRequest(s.path, { op: 'reset', discardChanges: false }, 5_000)).toEqual({ ok: false, error: { code: 'internal', message: 'a bug' } });
  expect(await sendControlRequest(s.path, { op: 'status' }, 5_000)).toEqual({ ok: true, result: 'fine' });
});

it('refuses an over-long line with one reply and closes that connection', async () => {
  const s = await server(async () => 'never');
  const [reply] = await exchange(s.path, 'x'.repeat(MAX_REQUEST_BYTES + 10), 1);
  expect(reply).toEqual({ ok: false, error: { code: 'config', message: `a control request may be at most ${MAX_REQUEST_BYTES} bytes` } });
  expect(await sendControlRequest(s.path, { op: 'status' }, 5_000)).toEqual({ ok: true, result: 'never' });
});

it('the client names a missing supervisor, and a silent one within its deadline', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'windock-control-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await expect(sendControlRequest(join(dir, 'control.sock'), { op: 'status' }, 1_000)).rejects.toBeInstanceOf(NoSupervisorError);
  const s = await server(() => new Promise(() => undefined));
  await expect(sendControlRequest(s.path, { op: 'status' }, 300)).rejects.toThrow('did not answer the status request within 300 ms');
});
