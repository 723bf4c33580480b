/**
 * The writing end of a download: a worker thread (part-writer-worker.ts) that owns the `.part`
 * file, writes every byte at its position and hashes the file (SHA-256) in file order, so that
 * neither costs the event loop that parses the HTTP bodies. Measured with bench/download.mjs (512 MiB over loopback, 2 cores):
 * with hash and writes on the event loop their costs added up to undici's (1.4 s; curl 0.7 s);
 * beside it in this thread the download takes 0.96 s, as long as curl followed by fdatasync.
 *
 * - Bytes go through streams: `stream(position)` writes consecutive bytes from `position` (one
 *   connection's piece of the file); `append` is the stream that continues the kept prefix. Each
 *   stream gathers its chunks into batches, each written with one writev(2) at its position.
 * - Bytes are handed over by transfer, not copied: a chunk that spans all of its ArrayBuffer
 *   (undici gives each body chunk its own) is moved. The message queue keeps the order.
 * - Opening with `keep` cuts the file after its last durable range and hashes the durable prefix
 *   again (Node's Hash state cannot be saved), in the worker too; later kept ranges are hashed
 *   when the hash's frontier reaches them (part-writer-worker.ts says how).
 * - `sync` answers with the ranges that an fdatasync(2) has made durable: bytes handed over
 *   before the call. Only those may be recorded as done.
 * - A failed write (ENOSPC, EIO) stops the writer: every later call rejects with that error,
 *   and the bytes before it stay in the file.
 * - At most `maxAheadBytes` (all streams together) may be on their way to the disk: `waitForRoom`
 *   holds the readers back (memory stays bounded when the disk is slower than the network).
 */
import { Worker } from 'node:worker_threads';
import type { ByteRange, WorkerReply, WorkerRequest, WorkerStart } from './part-writer-worker.js';

export type { ByteRange };

/** Consecutive bytes of the file from a position. */
export interface PartStream {
  /** Queues bytes at `position`. The chunk must not be used afterwards. */
  append(chunk: Uint8Array): void;
  /** Where the next appended byte goes. */
  readonly position: number;
}

export interface PartWriter extends PartStream {
  /** A stream writing from `position` on (a piece of the file, beside the others). */
  stream(position: number): PartStream;
  /** Resolves when the writer can take more; rejects once a write has failed. */
  waitForRoom(): Promise<void>;
  /** Bytes handed to the thread and not yet written. */
  readonly bytesInFlight: number;
  /** Whether `waitForRoom` would wait (more than `maxAheadBytes` in flight) or has failed. */
  readonly full: boolean;
  /** Makes every appended byte durable; resolves with the file's durable ranges. */
  sync(): Promise<ByteRange[]>;
  /**
   * The SHA-256 (hex) of the file's first `hashed` bytes: the whole file once every range is
   * written. Nothing may be appended afterwards.
   */
  digest(): Promise<{ sha256: string; hashed: number }>;
  /** Closes the file and ends the worker. Idempotent; never rejects. */
  close(): Promise<void>;
}

export interface PartWriterOptions {
  /**
   * What of the existing file to keep (and hash): a prefix length, or durable ranges (sorted,
   * disjoint). The rest after the last is cut off. 0 or [] starts empty.
   */
  keep: number | readonly ByteRange[];
  /** Bytes gathered before one hand-over to the worker. */
  batchBytes?: number;
  /** Bytes handed over but not yet written before `waitForRoom` waits. */
  maxAheadBytes?: number;
}

/**
 * Where the worker's module is. Built output (dist/, and the transpiled copies tests run) has
 * part-writer-worker.js beside this file. Run from the TypeScript sources (vitest imports src/
 * directly) only the .ts is there, and Node 20 cannot run TypeScript in a worker: the module is
 * transpiled once with the project's TypeScript (a development dependency, present wherever the
 * sources are run) and loaded from a data: URL, as an ES module; it imports only built-ins, which
 * resolve from there.
 */
let workerModule: Promise<URL> | undefined;
function workerModuleUrl(): Promise<URL> {
  workerModule ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) return new URL('./part-writer-worker.js', import.meta.url);
    const [{ default: ts }, { readFile }] = await Promise.all([import('typescript'), import('node:fs/promises')]);
    const source = await readFile(new URL('./part-writer-worker.ts', import.meta.url), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    return new URL(`data:text/javascript;base64,${Buffer.from(outputText).toString('base64')}`);
  })();
  return workerModule;
}

export class PartWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Starts the writer on `path`; resolves once the kept prefix has been hashed. */
export async function openPartWriter(path: string, options: PartWriterOptions): Promise<PartWriter> {
  const writer = new WorkerPartWriter(await workerModuleUrl(), path, options);
  try {
    await writer.ready;
  } catch (error) {
    await writer.close();
    throw error;
  }
  return writer;
}

/** One stream's batch: chunks for consecutive bytes from `start`. */
class Batch {
  chunks: Uint8Array[] = [];
  size = 0;
  constructor(public start: number) {}
}

class WorkerPartWriter implements PartWriter {
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #batchBytes: number;
  readonly #maxAheadBytes: number;
  /** The stream that continues the kept prefix (`append`). */
  readonly #main: PartStream;
  /** Batches holding chunks not yet handed over, one per stream. */
  #pending = new Set<Batch>();
  /** Bytes handed to the worker, and bytes it reports written (both counted from the open). */
  #handedOver = 0;
  #written = 0;
  #failure: PartWriteError | undefined;
  #nextId = 0;
  /** Callers waiting for an answer, by request id ('ready' is the named one). */
  #waiting = new Map<number | 'ready', { resolve: (value: never) => void; reject: (error: Error) => void }>();
  /** Streams waiting for room (`waitForRoom`). */
  #roomWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #exited: Promise<void>;
  #closing = false;

  constructor(module: URL, path: string, options: PartWriterOptions) {
    this.#batchBytes = options.batchBytes ?? 2 ** 20;
    this.#maxAheadBytes = options.maxAheadBytes ?? 16 * 2 ** 20;
    const keep: readonly ByteRange[] = typeof options.keep === 'number' ? (options.keep > 0 ? [[0, options.keep]] : []) : options.keep;
    const prefix = keep[0]?.[0] === 0 ? keep[0][1] : 0;
    this.#main = this.stream(prefix);
    const start: WorkerStart = { path, keep };
    // No inherited Node flags: the writer needs none, and some refuse a module worker (a parent
    // started with `--input-type` fails the worker at once).
    this.#worker = new Worker(module, { workerData: start, execArgv: [] });
    this.ready = this.#expect<void>('ready');
    this.#worker.on('message', (reply: WorkerReply) => this.#onReply(reply));
    this.#worker.on('error', (error) => this.#fail(new PartWriteError(error.message, undefined)));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    void this.#exited.then(() => {
      if (!this.#closing) this.#fail(new PartWriteError('the writer thread ended unexpectedly', undefined));
    });
  }

  append(chunk: Uint8Array): void {
    this.#main.append(chunk);
  }

  get position(): number {
    return this.#main.position;
  }

  stream(position: number): PartStream {
    const batch = new Batch(position);
    return {
      append: (chunk) => this.#append(batch, chunk),
      get position() {
        return batch.start + batch.size;
      },
    };
  }

  async waitForRoom(): Promise<void> {
    this.#throwIfFailed();
    if (this.bytesInFlight <= this.#maxAheadBytes) return;
    // Several streams may wait at once: each waiter is kept (not one per key).
    await new Promise<void>((resolve, reject) => this.#roomWaiters.push({ resolve, reject }));
  }

  get bytesInFlight(): number {
    return this.#handedOver - this.#written;
  }

  get full(): boolean {
    return this.#failure !== undefined || this.bytesInFlight > this.#maxAheadBytes;
  }

  async sync(): Promise<ByteRange[]> {
    return this.#request<ByteRange[]>('sync');
  }

  async digest(): Promise<{ sha256: string; hashed: number }> {
    return this.#request<{ sha256: string; hashed: number }>('digest');
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#send({ kind: 'close' });
    }
    await this.#exited;
  }

  #append(batch: Batch, chunk: Uint8Array): void {
    this.#throwIfFailed();
    // Only a chunk that owns its whole buffer can be moved; anything else is copied once.
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer ? chunk : chunk.slice();
    batch.chunks.push(owned);
    batch.size += owned.byteLength;
    this.#pending.add(batch);
    if (batch.size >= this.#batchBytes) this.#handOver(batch);
  }

  #handOver(batch: Batch): void {
    this.#pending.delete(batch);
    if (batch.size === 0) return;
    const message: WorkerRequest = { kind: 'write', position: batch.start, chunks: batch.chunks };
    try {
      // Every batched chunk owns its whole buffer (#append made sure): move them all.
      this.#send(message, batch.chunks.map((chunk) => chunk.buffer as ArrayBuffer));
    } catch {
      // A buffer Node marked untransferable: the structured clone copies it instead.
      this.#send(message);
    }
    this.#handedOver += batch.size;
    batch.start += batch.size;
    batch.chunks = [];
    batch.size = 0;
  }

  async #request<T>(kind: 'sync' | 'digest'): Promise<T> {
    this.#throwIfFailed();
    for (const batch of [...this.#pending]) this.#handOver(batch);
    const id = this.#nextId++;
    const answer = this.#expect<T>(id);
    this.#send({ kind, id });
    return answer;
  }

  #send(message: WorkerRequest, transfer?: ArrayBuffer[]): void {
    this.#worker.postMessage(message, transfer);
  }

  #expect<T>(key: number | 'ready'): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(key, { resolve: resolve as (value: never) => void, reject });
    });
  }

  #settle(key: number | 'ready', value?: unknown): void {
    const waiter = this.#waiting.get(key);
    if (!waiter) return;
    this.#waiting.delete(key);
    waiter.resolve(value as never);
  }

  #onReply(reply: WorkerReply): void {
    switch (reply.kind) {
      case 'ready':
        return this.#settle('ready');
      case 'written':
        this.#written = reply.bytes;
        if (this.bytesInFlight <= this.#maxAheadBytes / 2) for (const waiter of this.#roomWaiters.splice(0)) waiter.resolve();
        return;
      case 'synced':
        return this.#settle(reply.id, reply.durable);
      case 'digest':
        return this.#settle(reply.id, { sha256: reply.hex, hashed: reply.hashed });
      case 'failed':
        return this.#fail(new PartWriteError(reply.message, reply.code));
    }
  }

  #fail(error: PartWriteError): void {
    this.#failure ??= error;
    for (const waiter of [...this.#waiting.values(), ...this.#roomWaiters.splice(0)]) waiter.reject(this.#failure);
    this.#waiting.clear();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}
