/**
 * The one line splitter for every child's output (QEMU's serial console and stderr, dnsmasq,
 * passt, swtpm) and for QMP. A line is bounded: once it reaches `maxLineBytes` it is handed on
 * cut, and the rest of it up to the next newline is dropped and counted. A guest that writes to
 * its serial port endlessly without a newline therefore costs at most one line of memory, never
 * an ever-growing buffer (readline's `createInterface` keeps the whole unfinished line).
 */
import type { Readable } from 'node:stream';

export interface LineSplitterOptions {
  /** Bytes a line may have; longer lines are cut to this many. */
  maxLineBytes: number;
  /** Each line without its "\n" (and a "\r" before it); `cut` when the rest of it was dropped. */
  onLine: (line: string, cut: boolean) => void;
}

export class LineSplitter {
  readonly #max: number;
  readonly #onLine: (line: string, cut: boolean) => void;
  #parts: Buffer[] = [];
  #size = 0;
  /** Inside a line that was already cut and handed on: bytes are dropped until its newline. */
  #dropping = false;
  #droppedBytes = 0;
  #cutLines = 0;

  constructor(options: LineSplitterOptions) {
    if (!(options.maxLineBytes >= 1)) throw new RangeError(`maxLineBytes must be at least 1, got ${options.maxLineBytes}`);
    this.#max = options.maxLineBytes;
    this.#onLine = options.onLine;
  }

  /** Bytes dropped from cut lines so far. */
  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  /** Lines cut so far. */
  get cutLines(): number {
    return this.#cutLines;
  }

  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(0x0a, start);
      const end = newline === -1 ? bytes.length : newline;
      if (this.#dropping) {
        this.#droppedBytes += end - start;
      } else {
        const take = Math.min(this.#max - this.#size, end - start);
        // A copy: a slice would keep the whole chunk alive for the sake of a few bytes.
        if (take > 0) this.#parts.push(Buffer.from(bytes.subarray(start, start + take)));
        this.#size += take;
        if (end - start > take) {
          this.#droppedBytes += end - start - take;
          this.#cutLines += 1;
          this.#emit(true);
          this.#dropping = true;
        }
      }
      if (newline === -1) return;
      if (this.#dropping) this.#dropping = false;
      else this.#emit(false);
      start = newline + 1;
    }
  }

  /** Hands on an unfinished last line (a stream that ended without a newline). */
  end(): void {
    if (!this.#dropping && this.#size > 0) this.#emit(false);
    this.#dropping = false;
  }

  #emit(cut: boolean): void {
    let line = Buffer.concat(this.#parts, this.#size).toString('utf8');
    this.#parts = [];
    this.#size = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.#onLine(line, cut);
  }
}

/** Feeds a stream into a splitter; resolves once the stream ended, closed or failed (never rejects). */
export function splitStream(stream: Readable, splitter: LineSplitter): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      splitter.end();
      resolve();
    };
    stream.on('data', (chunk: Buffer | string) => splitter.push(chunk));
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}
