/**
 * The writer thread of part-writer.ts: it owns the `.part` file, writes every batch at its
 * position and hashes the file (SHA-256) in file order. It runs as a worker's main module (never
 * imported by the main thread), so it imports only Node's built-ins: run from the TypeScript
 * sources it is loaded from a data: URL, where relative imports do not resolve (see part-writer.ts).
 *
 * Hashing in file order while several connections write (CONNECTIONS): the hash has a frontier,
 * the first byte it has not consumed. A batch written at the frontier (one connection's download,
 * or the piece a parallel download fetches first) is hashed from memory as it is written. A batch
 * written further on (a later piece) is only written; when the frontier reaches it, the thread
 * reads that region back (pread from the page cache: it was just written) and hashes it. Pieces
 * are fetched in file order, so the frontier trails the newest byte by about one piece per
 * connection, and what is left to hash after the last byte is at most that. The alternative,
 * holding later pieces in memory until the frontier reaches them, would bound nothing (a stalled
 * first piece would keep the others' bytes in RAM); a Hash cannot be copied or saved, so one state
 * per piece cannot be combined either.
 *
 * The protocol, in message order (the queue keeps it):
 *   → start (workerData): the path and the byte ranges to keep → ready | failed
 *   → write: chunks to write at a position → written (bytes written so far, for flow control)
 *   → sync → synced (the ranges the fdatasync made durable)
 *   → digest → digest (hex of bytes [0, hashed), and `hashed`)
 *   → close: the file is closed and the thread ends
 * After a failure every later request is ignored: the main thread rejects them itself.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fdatasync, fstatSync, ftruncateSync, openSync, readSync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/** Bytes [start, end) of the file. */
export type ByteRange = readonly [start: number, end: number];

export interface WorkerStart {
  path: string;
  /** Ranges of the existing file to keep (sorted, disjoint); the file is cut after the last. */
  keep: readonly ByteRange[];
}

export type WorkerRequest =
  | { kind: 'write'; position: number; chunks: Uint8Array[] }
  | { kind: 'sync'; id: number }
  | { kind: 'digest'; id: number }
  | { kind: 'close' };

export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'written'; bytes: number }
  | { kind: 'synced'; id: number; durable: ByteRange[] }
  | { kind: 'digest'; id: number; hex: string; hashed: number }
  | { kind: 'failed'; message: string; code: string | undefined };

const port = parentPort;
if (!port) throw new Error('part-writer-worker.ts runs as a worker thread only');
const reply = (message: WorkerReply): void => port.postMessage(message);

const hash = createHash('sha256');
let fd: number | undefined;
/** The hash's frontier: every byte before it has been hashed, in order. */
let hashed = 0;
/** Every range written (or kept), sorted and merged. */
let written: [number, number][] = [];
/** Bytes written by `write` requests, for the main thread's flow control. */
let writtenBytes = 0;
let failed = false;
const readBuffer = Buffer.allocUnsafe(4 * 2 ** 20);

function fail(error: unknown): void {
  failed = true;
  const { message, code } = error as NodeJS.ErrnoException;
  reply({ kind: 'failed', message: String(message ?? error), code });
}

/** writev(2) at `position` until every byte is written; returns the count. */
function writeAll(file: number, chunks: Uint8Array[], position: number): number {
  const list = [...chunks];
  const total = list.reduce((sum, chunk) => sum + chunk.length, 0);
  let done = 0;
  while (done < total) {
    const count = writevSync(file, list, position + done);
    done += count;
    let skip = count;
    while (list[0] && skip > 0 && skip >= list[0].length) skip -= list.shift()!.length;
    if (skip > 0 && list[0]) list[0] = list[0].subarray(skip);
  }
  return total;
}

/** Adds [start, end) to `written`, merging it with the ranges it touches. */
function addWritten(start: number, end: number): void {
  const kept: [number, number][] = [];
  let merged: [number, number] = [start, end];
  for (const range of written) {
    if (range[1] < merged[0] || range[0] > merged[1]) kept.push(range);
    else merged = [Math.min(range[0], merged[0]), Math.max(range[1], merged[1])];
  }
  kept.push(merged);
  written = kept.sort((a, b) => a[0] - b[0]);
}

/** Hashes the written bytes the frontier has reached, reading them back from the file. */
function catchUp(file: number): void {
  const range = written.find(([start, end]) => start <= hashed && hashed < end);
  if (!range) return;
  while (hashed < range[1]) {
    const read = readSync(file, readBuffer, 0, Math.min(readBuffer.length, range[1] - hashed), hashed);
    if (read === 0) throw new Error(`the part ended at ${hashed} bytes, before ${range[1]}`);
    hash.update(readBuffer.subarray(0, read));
    hashed += read;
  }
}

/** Opens the part, cuts it after the last kept range and hashes the kept prefix. */
function start({ path, keep }: WorkerStart): void {
  const file = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  fd = file;
  const last = keep.at(-1)?.[1] ?? 0;
  // Never extend: zeros are not the bytes the sidecar promised.
  const size = fstatSync(file).size;
  if (size < last) throw new Error(`the part holds ${size} bytes, shorter than ${last} bytes`);
  ftruncateSync(file, last);
  for (const [from, to] of keep) addWritten(from, to);
  catchUp(file);
}

function write(file: number, position: number, chunks: Buffer[]): void {
  const length = writeAll(file, chunks, position);
  // Bytes at the frontier are hashed from memory (no read back); any already hashed are skipped.
  if (position <= hashed && hashed < position + length) {
    let skip = hashed - position;
    for (const chunk of chunks) {
      if (skip < chunk.length) hash.update(skip > 0 ? chunk.subarray(skip) : chunk);
      skip = Math.max(0, skip - chunk.length);
    }
    hashed = position + length;
  }
  addWritten(position, position + length);
  catchUp(file);
  writtenBytes += length;
}

function handle(message: WorkerRequest, file: number): void {
  switch (message.kind) {
    case 'write':
      // Transferred chunks arrive as plain Uint8Arrays over their own buffers.
      write(file, message.position, message.chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
      reply({ kind: 'written', bytes: writtenBytes });
      return;
    case 'sync': {
      // On libuv's pool: the next batches are hashed and written meanwhile. What the answer names
      // was written before the fdatasync began.
      const durable = written.map(([from, to]): ByteRange => [from, to]);
      fdatasync(file, (error) => (error ? fail(error) : reply({ kind: 'synced', id: message.id, durable })));
      return;
    }
    case 'digest':
      reply({ kind: 'digest', id: message.id, hex: hash.digest('hex'), hashed });
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
