/**
 * The pure parts of a download over several connections: byte-range arithmetic, how the missing
 * ranges are cut into pieces, when a download splits, what a piece's answer means, and the
 * headers of a probe and of a piece.
 */
import { describe, expect, it } from 'vitest';
import { decidePiece, pieceHeaders, requestHeaders, type PieceFacts } from '../../../src/storage/download/response-decision.js';
import { cutPieces, isPrefixOnly, missingRanges, pieceSize, prefixBytes, rangeBytes, rangesProblem, shouldSplit } from '../../../src/storage/download/segments.js';

const MiB = 2 ** 20;

describe('byte ranges', () => {
  it('finds what durable ranges leave missing, and what they hold', () => {
    expect(missingRanges([], 100)).toEqual([[0, 100]]);
    expect(missingRanges([[0, 10], [20, 30]], 100)).toEqual([[10, 20], [30, 100]]);
    expect(missingRanges([[5, 100]], 100)).toEqual([[0, 5]]);
    expect(missingRanges([[0, 100]], 100)).toEqual([]);
    expect(rangeBytes([[0, 10], [20, 30]])).toBe(20);
    expect(prefixBytes([[0, 10], [20, 30]])).toBe(10);
    expect(prefixBytes([[5, 10]])).toBe(0);
    expect([[], [[0, 5]], [[0, 5], [9, 10]], [[3, 5]]].map((r) => isPrefixOnly(r as [number, number][]))).toEqual([true, true, false, false]);
  });

  it('refuses recorded ranges that are not sorted, disjoint, whole and inside the file', () => {
    expect(rangesProblem([[0, 10], [10, 20]], 20)).toBeUndefined();
    expect(rangesProblem('x', 20)).toBe('the durable ranges are not a list');
    expect(rangesProblem([[0, 1.5]], 20)).toBe('a durable range is not two whole numbers');
    expect(rangesProblem([[5, 5]], 20)).toBe('the durable ranges are not sorted and disjoint');
    expect(rangesProblem([[10, 20], [0, 5]], 20)).toBe('the durable ranges are not sorted and disjoint');
    expect(rangesProblem([[0, 21]], 20)).toBe('a durable range lies past the end of the file');
  });

  it('cuts the missing ranges into pieces in file order, at least two per connection, at most 16 MiB', () => {
    expect(pieceSize(6 * 2 ** 30, 4)).toBe(16 * MiB);
    expect(pieceSize(128 * MiB, 4)).toBe(16 * MiB);
    expect(pieceSize(64 * MiB, 4)).toBe(8 * MiB);
    expect(pieceSize(6 * MiB, 4)).toBe(768 * 1024);
    expect(pieceSize(1000, 4)).toBe(64 * 1024);
    expect(cutPieces([[0, 10], [20, 45]], 10)).toEqual([[0, 10], [20, 30], [30, 40], [40, 45]]);
  });

  it('splits only a large file whose server answered 206 with a size and a validator, over more than one connection', () => {
    const facts = { connections: 4, status: 206, total: 100 * MiB, offset: 0, validator: '"v"', minBytes: 64 * MiB };
    expect(shouldSplit(facts)).toBe(true);
    expect(shouldSplit({ ...facts, connections: 1 })).toBe(false);
    expect(shouldSplit({ ...facts, status: 200 })).toBe(false);
    expect(shouldSplit({ ...facts, total: undefined })).toBe(false);
    expect(shouldSplit({ ...facts, validator: undefined })).toBe(false);
    expect(shouldSplit({ ...facts, offset: 40 * MiB })).toBe(false);
  });
});

describe('request headers', () => {
  it('probes a fresh download with bytes=0- only when several connections are allowed', () => {
    const none = { etag: undefined, lastModified: undefined };
    expect(requestHeaders(none, 0, true)).toEqual({ 'accept-encoding': 'identity', range: 'bytes=0-' });
    expect(requestHeaders(none, 0)).toEqual({ 'accept-encoding': 'identity' });
    expect(requestHeaders({ etag: '"v"', lastModified: undefined }, 10, true)).toEqual({ 'accept-encoding': 'identity', range: 'bytes=10-', 'if-range': '"v"' });
  });
  it('asks for a piece as a closed range of the recorded version', () => {
    expect(pieceHeaders('"v"', 100, 200)).toEqual({ 'accept-encoding': 'identity', range: 'bytes=100-199', 'if-range': '"v"' });
  });
});

describe('decidePiece', () => {
  const piece = (status: number, headers: Record<string, string>): PieceFacts => ({
    status,
    statusText: '',
    headers: new Headers(headers),
    start: 100,
    end: 200,
    total: 1000,
    sidecar: { etag: '"v1"', lastModified: undefined },
    shownUrl: 'https://h.example/x.iso',
    now: 0,
  });
  it('streams a 206 from exactly the start, of the same version and size', () => {
    expect(decidePiece(piece(206, { etag: '"v1"', 'content-range': 'bytes 100-199/1000' }))).toEqual({ action: 'stream' });
  });
  it('reads a 200 as a changed file when the validator differs, else as a server that ignores Range', () => {
    expect(decidePiece(piece(200, { etag: '"v2"' }))).toEqual({ action: 'changed', reason: 'the file changed on the server' });
    expect(decidePiece(piece(200, { etag: '"v1"' }))).toEqual({ action: 'single', reason: 'the server ignores Range' });
  });
  it('never splices a 206 of another version, size or start', () => {
    expect(decidePiece(piece(206, { etag: '"v2"', 'content-range': 'bytes 100-199/1000' })).action).toBe('changed');
    expect(decidePiece(piece(206, { etag: '"v1"', 'content-range': 'bytes 100-199/2000' })).action).toBe('changed');
    expect(decidePiece(piece(206, { etag: '"v1"', 'content-range': 'bytes 0-199/1000' }))).toEqual({
      action: 'fail',
      reason: 'the server answered a request for bytes from 100 with Content-Range "bytes 0-199/1000"; refusing to splice it',
    });
    expect(decidePiece(piece(416, {})).action).toBe('changed');
  });
  it('retries 5xx and 429, and fails on refusals', () => {
    expect(decidePiece(piece(503, { 'retry-after': '3' }))).toEqual({ action: 'retry', reason: 'the server answered 503', retryAfterMs: 3000 });
    expect(decidePiece(piece(404, {})).action).toBe('fail');
    expect(decidePiece(piece(302, {})).action).toBe('fail');
  });
});
