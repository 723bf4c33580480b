/**
 * The download on disk: `NAME.part` (written by the writer thread, part-writer.ts) and its
 * sidecar `NAME.part.json`, which records what the part belongs to (the URL without its query,
 * the validators, the size) and which of its byte ranges are durable: one prefix with one
 * connection, several ranges while pieces arrive over several (CONNECTIONS). The sidecar only
 * ever names bytes an fdatasync has made durable, so it survives a SIGKILL or a power cut: a
 * restart keeps exactly those ranges and re-fetches the rest, at most one checkpoint interval
 * more than was durable.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { AppError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { openPartWriter, type PartStream, type PartWriter } from '../part-writer.js';
import { writeFileAtomic } from '../../state/durable-file.js';
import { ifRangeValue, type Validators } from './response-decision.js';
import { isPrefixOnly, prefixBytes, rangeBytes, rangesProblem, type ByteRange } from './segments.js';

/** The sidecar next to the part: what the part belongs to, and what of it is durable. */
export interface PartSidecar {
  /** 1: `bytesDone` only (a prefix); 2: `done` as well. Both are read. */
  schema: 1 | 2;
  url: string;
  etag: string | undefined;
  lastModified: string | undefined;
  total: number | undefined;
  /** Durable bytes from 0 without a gap (the prefix one connection continues). */
  bytesDone: number;
  /** Every durable range, sorted and disjoint. */
  done: ByteRange[];
}

export interface PartPaths {
  partPath: string;
  sidecarPath: string;
  /** The URL as it may be shown and recorded (publicUrl): what the sidecar names. */
  shownUrl: string;
}

/** Why an existing part cannot be resumed, or undefined when it can (pure). */
export function resumeProblem(sidecar: PartSidecar | undefined, partSize: number, shownUrl: string): string | undefined {
  if (!sidecar) return 'no sidecar';
  if (sidecar.url !== shownUrl) return 'the part belongs to another URL';
  if (!ifRangeValue(sidecar)) return 'the server gave no strong validator to resume against';
  const problem = rangesProblem(sidecar.done, sidecar.total);
  if (problem) return problem;
  if (partSize < (sidecar.done.at(-1)?.[1] ?? 0)) return 'the part is shorter than its sidecar says';
  return undefined;
}

/** A sidecar as read from disk: schema 1 named only a prefix (`bytesDone`). */
export function readSidecar(text: string): PartSidecar | undefined {
  const value = JSON.parse(text) as Partial<PartSidecar> | null;
  if (!value || typeof value !== 'object') return undefined;
  if (value.schema === 1) {
    const bytesDone = Number.isSafeInteger(value.bytesDone) && value.bytesDone! > 0 ? value.bytesDone! : 0;
    return { ...(value as PartSidecar), done: bytesDone > 0 ? [[0, bytesDone]] : [] };
  }
  return value.schema === 2 ? (value as PartSidecar) : undefined;
}

/** The error for a failed write, naming the file (ENOSPC's text included: "no space left"). */
export function writeFailure(error: unknown, path: string): AppError {
  return new AppError('media', `cannot write ${path}: ${(error as Error).message}`, {
    hint: 'Check the free space and health of the STORAGE volume.',
    cause: error,
  });
}

export class PartFile {
  /** Opened at the first byte to write (a refused download creates no part). */
  #writer: PartWriter | undefined;
  #sidecar: PartSidecar;
  /** Bytes of the file received so far, every range together (may run ahead of the disk). */
  #received = 0;
  #sinceCheckpoint = 0;
  /** The checkpoint under way, if any: one at a time. */
  #checkpointing: Promise<void> | undefined;

  constructor(
    readonly paths: PartPaths,
    readonly log: Logger,
    /** Bytes between two checkpoints (fdatasync + sidecar) while bytes arrive. */
    readonly checkpointBytes: number,
  ) {
    this.#sidecar = { schema: 2, url: paths.shownUrl, etag: undefined, lastModified: undefined, total: undefined, bytesDone: 0, done: [] };
  }

  get received(): number {
    return this.#received;
  }

  get sidecar(): Readonly<PartSidecar> {
    return this.#sidecar;
  }

  /** Adopts an existing part when its sidecar matches this URL and it can be validated. */
  async load(): Promise<void> {
    const size = await fileSize(this.paths.partPath);
    if (size === undefined) return;
    let sidecar: PartSidecar | undefined;
    try {
      sidecar = readSidecar(await readFile(this.paths.sidecarPath, 'utf8'));
    } catch {
      sidecar = undefined;
    }
    const reason = resumeProblem(sidecar, size, this.paths.shownUrl);
    if (reason || !sidecar) {
      this.log.info({ reason }, 'starting the download from the beginning');
      await this.discard();
      return;
    }
    this.#sidecar = { ...sidecar, schema: 2 };
    this.#received = rangeBytes(sidecar.done);
    // Bytes past the last checkpoint may be torn (power cut): the writer keeps the durable ranges
    // only (what lies between them is fetched again) and hashes the durable prefix (Node's Hash
    // state cannot be saved).
    await this.writer();
    const fields = { bytesDone: sidecar.bytesDone, total: sidecar.total, ...(isPrefixOnly(sidecar.done) ? {} : { durable: this.#received, ranges: sidecar.done.length }) };
    this.log.info(fields, 'resuming the download');
  }

  /** Bytes the sidecar names as durable, every range together. */
  get durableBytes(): number {
    return rangeBytes(this.#sidecar.done);
  }

  /** The writer on the part, keeping (and hashing) the durable ranges. */
  async writer(): Promise<PartWriter> {
    this.#writer ??= await openPartWriter(this.paths.partPath, { keep: this.#sidecar.done }).catch((error: unknown) => {
      throw writeFailure(error, this.paths.partPath);
    });
    return this.#writer;
  }

  /** Throws every byte away: the part is empty and its validators forgotten. */
  async discard(): Promise<void> {
    await this.#settle();
    await this.#writer?.close();
    this.#writer = undefined;
    // Now, although the next writer cuts the part to 0 as well: the free-space check for the new
    // file comes first and must count the old bytes as free.
    await truncateFile(this.paths.partPath, 0);
    this.#received = 0;
    this.#sidecar = { ...this.#sidecar, etag: undefined, lastModified: undefined, total: undefined, bytesDone: 0, done: [] };
  }

  /**
   * Keeps only the durable prefix (for one connection, which can only continue a prefix): the
   * ranges after its first gap are forgotten and cut off when the writer opens again.
   */
  async keepPrefixOnly(): Promise<void> {
    await this.#settle();
    await this.#writer?.close();
    this.#writer = undefined;
    const prefix = prefixBytes(this.#sidecar.done);
    this.#received = prefix;
    this.#sidecar = { ...this.#sidecar, bytesDone: prefix, done: prefix > 0 ? [[0, prefix]] : [] };
  }

  /** Records what the server says the file is (kept in memory until the next checkpoint). */
  describe(validators: Validators, total: number | undefined): void {
    this.#sidecar = { ...this.#sidecar, ...validators, total: total ?? this.#sidecar.total };
  }

  /**
   * Hands bytes to a stream of the writer (opened by `writer()` before the body is read); every
   * `checkpointBytes` one checkpoint runs beside the streams. One at a time: a slow disk delays
   * the next one rather than queueing them.
   */
  write(stream: PartStream, bytes: Uint8Array): void {
    // Counted first: once handed over (transferred) the chunk's length reads 0.
    this.#received += bytes.length;
    this.#sinceCheckpoint += bytes.length;
    stream.append(bytes);
    if (this.#sinceCheckpoint < this.checkpointBytes || this.#checkpointing) return;
    this.#sinceCheckpoint = 0;
    this.#checkpointing = this.#checkpoint().finally(() => (this.#checkpointing = undefined));
    this.#checkpointing.catch(() => undefined);
  }

  /** Makes every byte received so far durable, then records it in the sidecar. */
  async checkpoint(): Promise<void> {
    await this.#settle();
    await this.#checkpoint();
  }

  /** Waits for the checkpoint under way (its failure is the next one's). */
  async #settle(): Promise<void> {
    await this.#checkpointing?.catch(() => undefined);
  }

  async #checkpoint(): Promise<void> {
    if (!this.#writer) return;
    let durable: ByteRange[];
    try {
      durable = await this.#writer.sync();
    } catch (error) {
      throw writeFailure(error, this.paths.partPath);
    }
    try {
      // The sidecar only ever names bytes that an fdatasync has made durable.
      this.#sidecar = { ...this.#sidecar, schema: 2, bytesDone: prefixBytes(durable), done: durable };
      await writeFileAtomic(this.paths.sidecarPath, `${JSON.stringify(this.#sidecar)}\n`);
    } catch (error) {
      throw writeFailure(error, this.paths.sidecarPath);
    }
  }

  /** The SHA-256 of the whole part; the writer is closed afterwards. */
  async digest(): Promise<string> {
    // A part found complete (416 on resume) has not been opened in this run yet.
    const writer = await this.writer();
    try {
      const { sha256, hashed } = await writer.digest();
      // Every piece written and hashed in order: a gap here would be a bug, never a file.
      if (hashed !== this.#received) throw new Error(`only ${hashed} of its ${this.#received} bytes were hashed in order`);
      return sha256;
    } catch (error) {
      throw writeFailure(error, this.paths.partPath);
    } finally {
      await writer.close();
    }
  }

  /** Deletes the part and its sidecar (bytes with a wrong digest cannot be resumed). */
  async remove(): Promise<void> {
    await unlink(this.paths.partPath).catch(() => undefined);
    await unlink(this.paths.sidecarPath).catch(() => undefined);
  }

  /** Gives the part its final name; link(2) never replaces: a file that appeared meanwhile stays. */
  async rename(finalPath: string, dir: string): Promise<void> {
    try {
      await link(this.paths.partPath, finalPath);
    } catch (error) {
      throw new AppError('media', `cannot move ${this.paths.partPath} to ${finalPath}: ${(error as Error).message}`, { cause: error });
    }
    await unlink(this.paths.partPath);
    await unlink(this.paths.sidecarPath).catch(() => undefined);
    await syncDir(dir);
  }

  async close(): Promise<void> {
    await this.#settle();
    await this.#writer?.close();
  }
}

export async function fileSize(path: string): Promise<number | undefined> {
  try {
    const handle = await open(path, 'r');
    try {
      return (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function truncateFile(path: string, length: number): Promise<void> {
  const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o600);
  try {
    await handle.truncate(length);
  } finally {
    await handle.close();
  }
}

/** SHA-256 of the first `length` bytes of a file. */
export async function hashFile(path: string, length: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 * 2 ** 20);
    let position = 0;
    while (position < length) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
