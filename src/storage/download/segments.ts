/**
 * Byte ranges of a download with several connections (CONNECTIONS), pure. A range is [start,
 * end), end exclusive. The sidecar records the durable ranges; what is missing is cut into pieces
 * fetched in file order, one Range request each, by up to CONNECTIONS connections at once.
 *
 * Why pieces rather than one segment per connection: the SHA-256 consumes the file in order
 * (part-writer-worker.ts). With N long segments, the first one would end when the others do and
 * (N-1)/N of the file would be hashed after the last byte arrived; with pieces taken in order the
 * hash trails the download by about one piece per connection. A restart resumes every unfinished
 * piece from its durable point, because the missing ranges are exactly what is cut again.
 */
import type { ByteRange } from '../part-writer.js';

export type { ByteRange };

/**
 * Below this many bytes left a download keeps one connection. At the per-connection rates CDNs
 * give (10–40 MiB/s) 64 MiB takes a few seconds on one; more connections would mostly add their
 * handshakes and slow starts. Windows ISOs (4–7 GiB) are far above it.
 */
export const PARALLEL_MIN_BYTES = 64 * 2 ** 20;
/** The largest piece: the hash trails the newest byte by about this much per connection. */
export const MAX_PIECE_BYTES = 16 * 2 ** 20;
const PIECE_ALIGN = 64 * 1024;

/** Bytes the ranges hold. */
export function rangeBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((sum, [start, end]) => sum + (end - start), 0);
}

/** Bytes from 0 held without a gap. */
export function prefixBytes(ranges: readonly ByteRange[]): number {
  const first = ranges[0];
  return first && first[0] === 0 ? first[1] : 0;
}

/** What of [0, total) the (sorted, disjoint) ranges do not hold. */
export function missingRanges(done: readonly ByteRange[], total: number): ByteRange[] {
  const missing: ByteRange[] = [];
  let at = 0;
  for (const [start, end] of done) {
    if (start > at) missing.push([at, Math.min(start, total)]);
    at = Math.max(at, end);
  }
  if (at < total) missing.push([at, total]);
  return missing.filter(([start, end]) => end > start);
}

/** Why recorded ranges cannot be trusted (not sorted, overlapping, outside the file), or undefined. */
export function rangesProblem(ranges: unknown, total: number | undefined): string | undefined {
  if (!Array.isArray(ranges)) return 'the durable ranges are not a list';
  let at = 0;
  for (const range of ranges as unknown[]) {
    if (!Array.isArray(range) || range.length !== 2 || !range.every((n) => Number.isSafeInteger(n))) return 'a durable range is not two whole numbers';
    const [start, end] = range as [number, number];
    if (start < at || end <= start) return 'the durable ranges are not sorted and disjoint';
    if (total !== undefined && end > total) return 'a durable range lies past the end of the file';
    at = end;
  }
  return undefined;
}

/** Whether the ranges are one prefix from 0 (or nothing): what one connection can continue. */
export function isPrefixOnly(ranges: readonly ByteRange[]): boolean {
  return ranges.length === 0 || (ranges.length === 1 && ranges[0]![0] === 0);
}

/**
 * The piece size for `remaining` bytes over `connections`: at least two pieces per connection,
 * so that the last round (whose pieces end together, and are then hashed from the page cache
 * but for the first) holds at most half of a small file.
 */
export function pieceSize(remaining: number, connections: number, maxPiece = MAX_PIECE_BYTES): number {
  const even = Math.ceil(remaining / (2 * Math.max(1, connections)) / PIECE_ALIGN) * PIECE_ALIGN;
  return Math.max(PIECE_ALIGN, Math.min(maxPiece, even));
}

/** The missing ranges cut into pieces of at most `size` bytes, in file order. */
export function cutPieces(missing: readonly ByteRange[], size: number): ByteRange[] {
  const pieces: ByteRange[] = [];
  for (const [start, end] of missing) {
    for (let at = start; at < end; at += size) pieces.push([at, Math.min(end, at + size)]);
  }
  return pieces;
}

export interface SplitFacts {
  connections: number;
  /** The status of the answer to the first request (206: the server honours Range). */
  status: number;
  total: number | undefined;
  /** Where that answer starts. */
  offset: number;
  /** The validator If-Range can send (a strong ETag or Last-Modified), if any. */
  validator: string | undefined;
  minBytes: number;
}

/**
 * Whether a download continues over several connections once the first answer is in: the server
 * honoured a Range (206), named the size, gave a validator (so that If-Range keeps a changed file
 * from being stitched), and enough is left. Otherwise the first answer's body is read to the end.
 */
export function shouldSplit(facts: SplitFacts): boolean {
  const { connections, status, total, offset, validator, minBytes } = facts;
  return connections > 1 && status === 206 && total !== undefined && validator !== undefined && total - offset >= minBytes;
}
