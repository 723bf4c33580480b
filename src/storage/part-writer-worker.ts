/**
 * The writer thread of part-writer.ts: it owns the `.part` file, hashes every byte (SHA-256) in
 * file order and writes it at its position. It runs as a worker's main module (never imported by
 * the main thread), so it imports only Node's built-ins: run from the TypeScript sources it is
 * loaded from a data: URL, where relative imports do not resolve (see part-writer.ts).
 *
 * The protocol, in message order (the queue keeps it):
 *   → start (workerData): the path and the prefix to keep → ready | failed
 *   → write: chunks to append → written (the end of the file now)
 *   → sync → synced (the length the fdatasync made durable)
 *   → digest → digest (hex of every byte so far)
 *   → close: the file is closed and the thread ends
 * After a failure every later request is ignored: the main thread rejects them itself.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fdatasync, fstatSync, ftruncateSync, openSync, readSync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkerStart {
  path: string;
  /** Bytes of the existing file to keep (and hash); the rest is cut off. */
  keep: number;
}

export type WorkerRequest =
  | { kind: 'write'; chunks: Uint8Array[] }
  | { kind: 'sync'; id: number }
  | { kind: 'digest'; id: number }
  | { kind: 'close' };

export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'written'; end: number }
  | { kind: 'synced'; id: number; durable: number }
  | { kind: 'digest'; id: number; hex: string }
  | { kind: 'failed'; message: string; code: string | undefined };

const port = parentPort;
if (!port) throw new Error('part-writer-worker.ts runs as a worker thread only');
const reply = (message: WorkerReply): void => port.postMessage(message);

const hash = createHash('sha256');
let fd: number | undefined;
let end = 0;
let failed = false;

function fail(error: unknown): void {
  failed = true;
  const { message, code } = error as NodeJS.ErrnoException;
  reply({ kind: 'failed', message: String(message ?? error), code });
}

/** writev(2) until every byte is written: a short write leaves the rest for the next call. */
function writeAll(file: number, chunks: Uint8Array[]): void {
  const list = [...chunks];
  let left = list.reduce((sum, chunk) => sum + chunk.length, 0);
  while (left > 0) {
    const written = writevSync(file, list, end);
    end += written;
    left -= written;
    let skip = written;
    while (list[0] && skip > 0 && skip >= list[0].length) skip -= list.shift()!.length;
    if (skip > 0 && list[0]) list[0] = list[0].subarray(skip);
  }
}

/** Opens the part, cuts it to the kept prefix and hashes that prefix (a Hash cannot be saved). */
function start({ path, keep }: WorkerStart): void {
  const file = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  fd = file;
  // Never extend: zeros are not the bytes the sidecar promised.
  const size = fstatSync(file).size;
  if (size < keep) throw new Error(`the part holds ${size} bytes, shorter than ${keep} bytes`);
  ftruncateSync(file, keep);
  const buffer = Buffer.allocUnsafe(4 * 2 ** 20);
  while (end < keep) {
    const read = readSync(file, buffer, 0, Math.min(buffer.length, keep - end), end);
    if (read === 0) throw new Error(`the part ended before ${keep} bytes`);
    hash.update(buffer.subarray(0, read));
    end += read;
  }
}

function handle(message: WorkerRequest, file: number): void {
  switch (message.kind) {
    case 'write': {
      // Transferred chunks arrive as plain Uint8Arrays over their own buffers.
      const chunks = message.chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      for (const chunk of chunks) hash.update(chunk);
      writeAll(file, chunks);
      reply({ kind: 'written', end });
      return;
    }
    case 'sync': {
      // On libuv's pool: the next batches are hashed and written meanwhile.
      const durable = end;
      fdatasync(file, (error) => (error ? fail(error) : reply({ kind: 'synced', id: message.id, durable })));
      return;
    }
    case 'digest':
      reply({ kind: 'digest', id: message.id, hex: hash.digest('hex') });
      return;
    case 'close':
      return;
  }
}

try {
  start(workerData as WorkerStart);
  reply({ kind: 'ready' });
} catch (error) {
  fail(error);
}

port.on('message', (message: WorkerRequest) => {
  if (message.kind === 'close') {
    if (fd !== undefined) closeSync(fd);
    port.close();
    return;
  }
  if (failed || fd === undefined) return;
  try {
    handle(message, fd);
  } catch (error) {
    fail(error);
  }
});
