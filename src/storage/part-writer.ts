/**
 * The writing end of a download: a worker thread (part-writer-worker.ts) that owns the `.part`
 * file, hashes every byte (SHA-256) in file order and writes it at its position, so that neither
 * costs the event loop that parses the HTTP body. Measured with bench/download.mjs (512 MiB over loopback, 2 cores):
 * with hash and writes on the event loop their costs added up to undici's (1.4 s; curl 0.7 s);
 * beside it in this thread the download takes 0.96 s, as long as curl followed by fdatasync.
 *
 * - Bytes are handed over by transfer, not copied: `append` takes ownership of the chunk's
 *   ArrayBuffer when the chunk spans all of it (undici gives each body chunk its own), and the
 *   worker writes a batch with one writev(2). The message queue keeps the order.
 * - Opening with `keep` truncates the file to its durable prefix and hashes that prefix again
 *   (Node's Hash state cannot be saved), in the worker too.
 * - `sync` answers with the length that an fdatasync(2) has made durable: bytes appended before
 *   the call. Only that length may be recorded as done.
 * - A failed write (ENOSPC, EIO) stops the writer: every later call rejects with that error,
 *   and the bytes before it stay in the file.
 * - At most `maxAheadBytes` may be on their way to the disk: `waitForRoom` holds the reader back
 *   (memory stays bounded when the disk is slower than the network).
 */
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest, WorkerStart } from './part-writer-worker.js';

export interface PartWriter {
  /** Queues bytes at the end of the file. The chunk must not be used afterwards. */
  append(chunk: Uint8Array): void;
  /** Resolves when the writer can take more; rejects once a write has failed. */
  waitForRoom(): Promise<void>;
  /** Bytes handed to the thread and not yet written. */
  readonly bytesInFlight: number;
  /** Makes every appended byte durable; resolves with the file's durable length. */
  sync(): Promise<number>;
  /** The SHA-256 (hex) of the whole file as written. Nothing may be appended afterwards. */
  digest(): Promise<string>;
  /** Closes the file and ends the worker. Idempotent; never rejects. */
  close(): Promise<void>;
}

export interface PartWriterOptions {
  /** Bytes of the existing file to keep (and hash); the rest is cut off. 0 starts empty. */
  keep: number;
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

class WorkerPartWriter implements PartWriter {
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #batchBytes: number;
  readonly #maxAheadBytes: number;
  #batch: Uint8Array[] = [];
  #batchSize = 0;
  /** Bytes handed to the worker (including the kept prefix), and bytes it reports written. */
  #handedOver: number;
  #written: number;
  #failure: PartWriteError | undefined;
  #nextId = 0;
  /** Callers waiting for an answer, by request id ('ready' and 'room' are the named ones). */
  #waiting = new Map<number | 'ready' | 'room', { resolve: (value: never) => void; reject: (error: Error) => void }>();
  #exited: Promise<void>;
  #closing = false;

  constructor(module: URL, path: string, options: PartWriterOptions) {
    this.#batchBytes = options.batchBytes ?? 2 ** 20;
    this.#maxAheadBytes = options.maxAheadBytes ?? 16 * 2 ** 20;
    this.#handedOver = options.keep;
    this.#written = options.keep;
    const start: WorkerStart = { path, keep: options.keep };
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
    this.#throwIfFailed();
    // Only a chunk that owns its whole buffer can be moved; anything else is copied once.
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer ? chunk : chunk.slice();
    this.#batch.push(owned);
    this.#batchSize += owned.byteLength;
    if (this.#batchSize >= this.#batchBytes) this.#handOver();
  }

  async waitForRoom(): Promise<void> {
    this.#throwIfFailed();
    if (this.bytesInFlight <= this.#maxAheadBytes) return;
    await this.#expect<void>('room');
  }

  get bytesInFlight(): number {
    return this.#handedOver - this.#written;
  }

  async sync(): Promise<number> {
    return this.#request<number>('sync');
  }

  async digest(): Promise<string> {
    return this.#request<string>('digest');
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#send({ kind: 'close' });
    }
    await this.#exited;
  }

  #handOver(): void {
    if (this.#batchSize === 0) return;
    const message: WorkerRequest = { kind: 'write', chunks: this.#batch };
    try {
      // Every batched chunk owns its whole buffer (append made sure): move them all.
      this.#send(message, this.#batch.map((chunk) => chunk.buffer as ArrayBuffer));
    } catch {
      // A buffer Node marked untransferable: the structured clone copies it instead.
      this.#send(message);
    }
    this.#handedOver += this.#batchSize;
    this.#batch = [];
    this.#batchSize = 0;
  }

  async #request<T>(kind: 'sync' | 'digest'): Promise<T> {
    this.#throwIfFailed();
    this.#handOver();
    const id = this.#nextId++;
    const answer = this.#expect<T>(id);
    this.#send({ kind, id });
    return answer;
  }

  #send(message: WorkerRequest, transfer?: ArrayBuffer[]): void {
    this.#worker.postMessage(message, transfer);
  }

  #expect<T>(key: number | 'ready' | 'room'): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(key, { resolve: resolve as (value: never) => void, reject });
    });
  }

  #settle(key: number | 'ready' | 'room', value?: unknown): void {
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
        this.#written = reply.end;
        if (this.bytesInFlight <= this.#maxAheadBytes / 2) this.#settle('room');
        return;
      case 'synced':
        return this.#settle(reply.id, reply.durable);
      case 'digest':
        return this.#settle(reply.id, reply.hex);
      case 'failed':
        return this.#fail(new PartWriteError(reply.message, reply.code));
    }
  }

  #fail(error: PartWriteError): void {
    this.#failure ??= error;
    for (const waiter of this.#waiting.values()) waiter.reject(this.#failure);
    this.#waiting.clear();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}
