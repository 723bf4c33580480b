/**
 * An ISO on an HTTP server as a ByteSource (iso-reader.ts): the ISO/UDF directory walk and the
 * WIM header and XML reads (wim-metadata.ts) become a handful of closed Range requests, so that
 * VERSION=<URL of an ISO> is known before its download of several GB.
 *
 * Requests are the downloader's (src/storage/download/): the built-in fetch, redirects followed
 * (`redirect: 'follow'`), `Accept-Encoding: identity`, `Range: bytes=S-E` with `If-Range` set to
 * the first answer's strong ETag or Last-Modified (response-decision.ts `pieceHeaders`), and every
 * answer judged by `decidePiece`: a 200 to a Range request is a server that ignores Range (its body
 * is cancelled at once: the whole file is never read) or a file that changed (If-Range, RFC 9110
 * §13.1.5); a 206 at another offset or of another size is refused. Nothing is retried: the caller
 * falls back to reading the ISO after its download.
 *
 * Bounded: each request (headers and body) within `requestTimeoutMs`; all bytes fetched within
 * `maxBytes`; a body longer than its Content-Range is refused. Reads go through a block cache
 * (`blockBytes`): the walk reads sector by sector, mostly near the image's start, and each block
 * is fetched once; adjacent missing blocks are one request.
 */
import { AppError } from '../core/errors.js';
import { withDeadline } from '../process/deadline.js';
import { credentialsRefusal, describeFetchError } from '../storage/download/attempt.js';
import { decidePiece, ifRangeValue, parseContentRange, pieceHeaders, type Validators } from '../storage/download/response-decision.js';
import { publicUrl } from '../storage/media.js';
import { isoError, type ByteSource } from './iso-reader.js';
import { readSourceMetadata, type IsoMetadata } from './wim-metadata.js';

export interface HttpByteSourceOptions {
  /** The run's stop signal. */
  signal?: AbortSignal | undefined;
  /** One request, from sending it to its body's last byte. */
  requestTimeoutMs?: number;
  /** All the bytes fetched over all requests at most. */
  maxBytes?: number;
  /** The cache's block: the smallest range fetched. */
  blockBytes?: number;
  fetch?: typeof fetch;
}

export const HTTP_SOURCE_DEFAULTS = {
  requestTimeoutMs: 10_000,
  // A Windows ISO's UDF directories, its WIM header and XML (~40 KB for 11 editions) are far below this.
  maxBytes: 16 * 2 ** 20,
  // The volume descriptors (sector 16), the UDF anchor (sector 256) and most directories lie in the first MB.
  blockBytes: 64 * 1024,
  /** All requests of one metadata read. */
  totalTimeoutMs: 30_000,
} as const;

/** One request as sent and answered, for the log and for tests. */
export interface RangeRequest {
  start: number;
  /** Exclusive. */
  end: number;
  status: number;
}

export class HttpByteSource implements ByteSource {
  readonly name: string;
  /** The requests sent so far, in order. */
  readonly requests: RangeRequest[] = [];
  #size = 0;
  #fetched = 0;
  #validators: Validators = { etag: undefined, lastModified: undefined };
  readonly #blocks = new Map<number, Buffer>();
  readonly #settings: Required<Omit<HttpByteSourceOptions, 'signal'>>;
  readonly #stop: AbortSignal;

  private constructor(
    private readonly url: string,
    options: HttpByteSourceOptions,
  ) {
    this.name = publicUrl(url);
    const defaults = HTTP_SOURCE_DEFAULTS;
    this.#settings = {
      requestTimeoutMs: options.requestTimeoutMs ?? defaults.requestTimeoutMs,
      maxBytes: options.maxBytes ?? defaults.maxBytes,
      blockBytes: options.blockBytes ?? defaults.blockBytes,
      fetch: options.fetch ?? globalThis.fetch,
    };
    this.#stop = options.signal ?? new AbortController().signal;
  }

  /** Opens the URL: the first block, which gives the file's size and validator. */
  static async open(url: string, options: HttpByteSourceOptions = {}): Promise<HttpByteSource> {
    const source = new HttpByteSource(url, options);
    const refusal = credentialsRefusal(url);
    if (refusal) throw source.#error(refusal);
    await source.#fetchBlocks(0, 1);
    return source;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes that came over the network. */
  get fetchedBytes(): number {
    return this.#fetched;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.#size) {
      throw isoError(this, `it ends at byte ${this.#size}, but a structure lies at ${offset}..${offset + length} (truncated?)`);
    }
    if (length === 0) return Buffer.alloc(0);
    const { blockBytes } = this.#settings;
    const first = Math.floor(offset / blockBytes);
    const last = Math.floor((offset + length - 1) / blockBytes);
    // Each run of adjacent missing blocks is one request.
    for (let block = first; block <= last; block++) {
      if (this.#blocks.has(block)) continue;
      let end = block + 1;
      while (end <= last && !this.#blocks.has(end)) end++;
      await this.#fetchBlocks(block, end);
      block = end - 1;
    }
    const at = offset - first * blockBytes;
    // Most reads are a sector inside one block: a view of it, no copy (the readers never write into what they read).
    if (first === last) return this.#blocks.get(first)!.subarray(at, at + length);
    const parts: Buffer[] = [];
    for (let block = first; block <= last; block++) parts.push(this.#blocks.get(block)!);
    return Buffer.concat(parts).subarray(at, at + length);
  }

  /** Blocks [first, end) into the cache, in one request. */
  async #fetchBlocks(first: number, end: number): Promise<void> {
    const { blockBytes, maxBytes, requestTimeoutMs } = this.#settings;
    const start = first * blockBytes;
    // The first request does not know the size yet: a server clips the range to the file (RFC 9110 §14.1.2).
    const stop = this.#size > 0 ? Math.min(this.#size, end * blockBytes) : end * blockBytes;
    if (this.#fetched + (stop - start) > maxBytes) {
      throw this.#error(`reading its install image's metadata would fetch more than ${maxBytes} bytes`);
    }
    const request = new AbortController();
    const signal = AbortSignal.any([this.#stop, request.signal]);
    const timeout = () => {
      const error = this.#error(`a request for bytes ${start}-${stop - 1} got no whole answer within ${requestTimeoutMs} ms`);
      request.abort(error);
      return error;
    };
    try {
      const body = await withDeadline(this.#request(start, stop, signal), requestTimeoutMs, this.#stop, timeout);
      for (let block = first; block * blockBytes < start + body.length; block++) {
        this.#blocks.set(block, body.subarray(block * blockBytes - start, Math.min(body.length, (block + 1) * blockBytes - start)));
      }
    } finally {
      // Whatever happened, no connection stays open for this request.
      request.abort();
    }
  }

  async #request(start: number, stop: number, signal: AbortSignal): Promise<Buffer> {
    const validator = ifRangeValue(this.#validators);
    const headers = validator ? pieceHeaders(validator, start, stop) : { 'accept-encoding': 'identity', range: `bytes=${start}-${stop - 1}` };
    let response: Response;
    try {
      response = await this.#settings.fetch(this.url, { headers, signal, redirect: 'follow' });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw this.#error(`cannot reach ${new URL(this.url).host}: ${describeFetchError(error)}`, error);
    }
    this.requests.push({ start, end: stop, status: response.status });
    try {
      return await this.#judge(response, start, stop, signal);
    } finally {
      // An unread body (a 200 with the whole file) is cancelled, never read.
      await response.body?.cancel().catch(() => undefined);
    }
  }

  async #judge(response: Response, start: number, stop: number, signal: AbortSignal): Promise<Buffer> {
    const range = parseContentRange(response.headers.get('content-range'));
    const opening = this.#size === 0;
    if (opening && response.status === 416) throw this.#error('the server has it as an empty file (416 to a request for its first bytes)');
    const decision = decidePiece({
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      start,
      end: stop,
      // The first answer sets the size the later ones must keep.
      total: opening ? (range?.total ?? -1) : this.#size,
      sidecar: this.#validators,
      shownUrl: this.name,
      now: Date.now(),
    });
    if (decision.action === 'single') throw this.#error(`the server ignores Range (it answered ${response.status} with the whole file to a request for bytes ${start}-${stop - 1})`);
    if (decision.action !== 'stream') throw this.#error(decision.reason);
    if (!range || range.total === undefined || range.total <= 0) throw this.#error(`its answer's Content-Range ${JSON.stringify(response.headers.get('content-range'))} gives no size`);
    const expected = Math.min(stop, range.total) - start;
    if (range.end + 1 - start !== expected) throw this.#error(`a request for bytes ${start}-${stop - 1} was answered with bytes ${range.start}-${range.end}`);
    if (opening) {
      this.#size = range.total;
      this.#validators = { etag: response.headers.get('etag') ?? undefined, lastModified: response.headers.get('last-modified') ?? undefined };
    }
    const body = await this.#body(response, expected, signal);
    this.#fetched += body.length;
    return body;
  }

  /** Exactly `expected` bytes of the body; more or fewer is refused. */
  async #body(response: Response, expected: number, signal: AbortSignal): Promise<Buffer> {
    if (!response.body) throw this.#error('the server sent no body');
    const reader = response.body.getReader();
    const chunks: Buffer[] = [];
    let received = 0;
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw this.#error(`the connection broke: ${describeFetchError(error)}`, error);
      }
      if (chunk.done) break;
      received += chunk.value.length;
      if (received > expected) throw this.#error(`the server sent more than the ${expected} bytes its Content-Range announced`);
      chunks.push(Buffer.from(chunk.value.buffer, chunk.value.byteOffset, chunk.value.length));
    }
    if (received < expected) throw this.#error(`the answer ended after ${received} of ${expected} bytes`);
    return Buffer.concat(chunks, received);
  }

  #error(what: string, cause?: unknown): AppError {
    return remoteError(this.name, what, cause);
  }
}

function remoteError(shownUrl: string, what: string, cause?: unknown): AppError {
  return new AppError('media', `the ISO at ${shownUrl} cannot be read before its download: ${what}`, {
    hint: 'windock reads the ISO after its download instead.',
    details: { url: shownUrl },
    ...(cause === undefined ? {} : { cause }),
  });
}

export interface RemoteMetadata {
  metadata: IsoMetadata;
  size: number;
  requests: RangeRequest[];
  fetchedBytes: number;
}

/**
 * The install image's metadata of the ISO at `url`, read through range requests, all of them
 * within `totalTimeoutMs`. An AppError (code media) naming the URL without its secrets when it
 * cannot be read that way.
 */
export async function readRemoteIsoMetadata(url: string, options: HttpByteSourceOptions & { totalTimeoutMs?: number } = {}): Promise<RemoteMetadata> {
  const overall = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, overall.signal]) : overall.signal;
  const work = (async () => {
    const source = await HttpByteSource.open(url, { ...options, signal });
    const metadata = await readSourceMetadata(source, signal);
    return { metadata, size: source.size, requests: source.requests, fetchedBytes: source.fetchedBytes };
  })();
  const ms = options.totalTimeoutMs ?? HTTP_SOURCE_DEFAULTS.totalTimeoutMs;
  try {
    return await withDeadline(work, ms, options.signal, () => {
      const error = remoteError(publicUrl(url), `its metadata could not be read within ${ms} ms`);
      overall.abort(error);
      return error;
    });
  } finally {
    overall.abort();
  }
}
