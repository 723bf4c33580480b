/**
 * What each HTTP answer means for a resumable download, without a server: every branch of
 * decideResponse, the request headers, Retry-After, and when an existing part may be resumed.
 */
import { describe, expect, it } from 'vitest';
import { readSidecar, resumeProblem, type PartSidecar } from '../../../src/storage/download/part-file.js';
import {
  decideResponse,
  requestHeaders,
  retryAfterMs,
  validatorChanged,
  type ResponseFacts,
} from '../../../src/storage/download/response-decision.js';

const URL_SHOWN = 'https://h.example/x.iso';
const NOW = Date.parse('Wed, 01 Jan 2025 00:00:00 GMT');
const STRONG = { etag: '"v1"', lastModified: 'Tue, 31 Dec 2024 00:00:00 GMT', total: 1000 };

function facts(status: number, headers: Record<string, string>, offset: number, sidecar: Partial<ResponseFacts['sidecar']> = STRONG, statusText = ''): ResponseFacts {
  return {
    status,
    statusText,
    headers: new Headers(headers),
    offset,
    sidecar: { etag: undefined, lastModified: undefined, total: undefined, ...sidecar },
    shownUrl: URL_SHOWN,
    now: NOW,
  };
}

describe('decideResponse', () => {
  it('200 from the start appends the body, with its validators and Content-Length as the size', () => {
    expect(decideResponse(facts(200, { etag: '"v1"', 'last-modified': STRONG.lastModified, 'content-length': '1000' }, 0, {}))).toEqual({
      action: 'append',
      validators: { etag: '"v1"', lastModified: STRONG.lastModified },
      total: 1000,
    });
  });

  it('200 without Content-Length (or a malformed one) leaves the size unknown', () => {
    expect(decideResponse(facts(200, {}, 0, {}))).toEqual({ action: 'append', validators: { etag: undefined, lastModified: undefined }, total: undefined });
    expect(decideResponse(facts(200, { 'content-length': '12abc' }, 0, {}))).toMatchObject({ action: 'append', total: undefined });
  });

  it('200 to a resume of an unchanged file: the server ignores Range, so the part is thrown away', () => {
    expect(decideResponse(facts(200, { etag: '"v1"', 'content-length': '1000' }, 400))).toEqual({
      action: 'restart',
      validators: { etag: '"v1"', lastModified: undefined },
      total: 1000,
      discard: { message: 'the server sent the whole file; starting from the beginning', fields: { bytesDone: 400, reason: 'the server ignores Range' } },
    });
  });

  it('200 to a resume with another ETag or Last-Modified: the file changed (If-Range did its job)', () => {
    const byEtag = decideResponse(facts(200, { etag: '"v2"', 'content-length': '900' }, 400));
    expect(byEtag).toMatchObject({ action: 'restart', total: 900, discard: { fields: { reason: 'the file changed on the server' } } });
    const byDate = decideResponse(facts(200, { 'last-modified': 'Thu, 02 Jan 2025 00:00:00 GMT' }, 400, { lastModified: STRONG.lastModified }));
    expect(byDate).toMatchObject({ action: 'restart', total: undefined, discard: { fields: { reason: 'the file changed on the server' } } });
  });

  it('206 at exactly the offset appends, taking the total from Content-Range', () => {
    expect(decideResponse(facts(206, { etag: '"v1"', 'content-range': 'bytes 400-999/1000' }, 400))).toEqual({
      action: 'append',
      validators: { etag: '"v1"', lastModified: undefined },
      total: 1000,
    });
    expect(decideResponse(facts(206, { etag: '"v1"', 'content-range': 'bytes 400-999/*' }, 400))).toMatchObject({ action: 'append', total: undefined });
  });

  it('206 at another offset, or without a usable Content-Range, is refused: splicing it would corrupt the file', () => {
    expect(decideResponse(facts(206, { etag: '"v1"', 'content-range': 'bytes 0-999/1000' }, 400))).toEqual({
      action: 'fail',
      reason: 'the server answered a request for bytes from 400 with Content-Range "bytes 0-999/1000"; refusing to splice it',
    });
    expect(decideResponse(facts(206, { etag: '"v1"' }, 400))).toEqual({
      action: 'fail',
      reason: 'the server answered a request for bytes from 400 with Content-Range null; refusing to splice it',
    });
  });

  it('206 with another strong or weak ETag than the part: the part goes, and the next attempt starts at once', () => {
    for (const etag of ['"v2"', 'W/"v1"']) {
      expect(decideResponse(facts(206, { etag, 'content-range': 'bytes 400-999/1000' }, 400)), etag).toEqual({
        action: 'retry',
        reason: 'the file changed on the server',
        retryAfterMs: 0,
        discard: { message: 'the file changed on the server; starting from the beginning', fields: { before: '"v1"', now: etag } },
      });
    }
  });

  it('206 with another Last-Modified counts only when the part has no ETag', () => {
    const changed = 'Thu, 02 Jan 2025 00:00:00 GMT';
    expect(decideResponse(facts(206, { 'last-modified': changed, 'content-range': 'bytes 400-999/1000' }, 400, { lastModified: STRONG.lastModified }))).toMatchObject({
      action: 'retry',
      discard: { fields: { before: STRONG.lastModified, now: changed } },
    });
    // With an ETag on both sides the ETag decides; the date alone moving is not a new version.
    expect(decideResponse(facts(206, { etag: '"v1"', 'last-modified': changed, 'content-range': 'bytes 400-999/1000' }, 400))).toMatchObject({ action: 'append' });
    // A 206 without validators continues the part (nothing says it changed).
    expect(decideResponse(facts(206, { 'content-range': 'bytes 400-999/1000' }, 400))).toMatchObject({ action: 'append' });
  });

  it('416 at exactly the end of a part of the known size: the part is complete', () => {
    expect(decideResponse(facts(416, { 'content-range': 'bytes */1000' }, 1000))).toEqual({ action: 'complete' });
    expect(decideResponse(facts(416, { 'content-range': 'bytes */1000' }, 1000, { etag: '"v1"' }))).toEqual({ action: 'complete' });
  });

  it('416 elsewhere (a shorter file, another size, no Content-Range): the part goes and the download restarts', () => {
    const restart = {
      action: 'retry',
      reason: 'range not satisfiable',
      retryAfterMs: 0,
      discard: { message: 'the server refused the resume range; starting from the beginning', fields: { status: 416 } },
    };
    expect(decideResponse(facts(416, { 'content-range': 'bytes */800' }, 1000))).toEqual(restart);
    expect(decideResponse(facts(416, { 'content-range': 'bytes */1000' }, 1000, { etag: '"v1"', total: 1200 }))).toEqual(restart);
    expect(decideResponse(facts(416, {}, 1000))).toEqual(restart);
  });

  it('416 to a request from 0 is an answer like any other unexpected one', () => {
    expect(decideResponse(facts(416, {}, 0, {}, 'Range Not Satisfiable'))).toEqual({
      action: 'fail',
      reason: `the server answered 416 Range Not Satisfiable for ${URL_SHOWN}`,
    });
  });

  it.each([
    [401, 'asks for credentials (401)'],
    [403, 'refused access (403 Forbidden)'],
    [404, 'has no such file (404 Not Found)'],
    [410, 'no longer has the file (410 Gone)'],
  ])('%i fails at once, naming the URL', (status, words) => {
    expect(decideResponse(facts(status, {}, 400))).toEqual({ action: 'fail', reason: `the server ${words} for ${URL_SHOWN}` });
  });

  it.each([408, 429, 500, 502, 503, 504])('%i is retried, after Retry-After when the server gives one', (status) => {
    expect(decideResponse(facts(status, {}, 0, {}, 'Busy'))).toEqual({ action: 'retry', reason: `the server answered ${status} Busy`, retryAfterMs: undefined });
    expect(decideResponse(facts(status, { 'retry-after': '3' }, 0, {}))).toEqual({ action: 'retry', reason: `the server answered ${status}`, retryAfterMs: 3000 });
  });

  it('any other status fails with its text', () => {
    expect(decideResponse(facts(204, {}, 0, {}, 'No Content'))).toEqual({ action: 'fail', reason: `the server answered 204 No Content for ${URL_SHOWN}` });
    expect(decideResponse(facts(301, {}, 0, {}, 'Moved Permanently'))).toMatchObject({ action: 'fail' });
  });
});

describe('the request and its helpers', () => {
  it('asks for the bytes as stored, and resumes only against a strong validator', () => {
    expect(requestHeaders(STRONG, 0)).toEqual({ 'accept-encoding': 'identity' });
    expect(requestHeaders(STRONG, 400)).toEqual({ 'accept-encoding': 'identity', range: 'bytes=400-', 'if-range': '"v1"' });
    expect(requestHeaders({ etag: 'W/"v1"', lastModified: STRONG.lastModified }, 400)).toMatchObject({ 'if-range': STRONG.lastModified });
    expect(requestHeaders({ etag: 'W/"v1"', lastModified: undefined }, 400)).toEqual({ 'accept-encoding': 'identity' });
  });

  it('reads Retry-After as seconds or as a date, never negative', () => {
    expect(retryAfterMs(null, NOW)).toBeUndefined();
    expect(retryAfterMs(' 2 ', NOW)).toBe(2000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:05 GMT', NOW)).toBe(5000);
    expect(retryAfterMs('Tue, 31 Dec 2024 23:59:00 GMT', NOW)).toBe(0);
    expect(retryAfterMs('soon', NOW)).toBeUndefined();
  });

  it('compares ETags first, then dates, and calls nothing a change without both sides', () => {
    expect(validatorChanged(STRONG, '"v2"', undefined)).toBe(true);
    expect(validatorChanged(STRONG, '"v1"', 'another date')).toBe(false);
    expect(validatorChanged({ etag: undefined, lastModified: 'a' }, '"v1"', 'b')).toBe(true);
    expect(validatorChanged({ etag: undefined, lastModified: undefined }, '"v1"', 'b')).toBe(false);
  });
});

describe('resumeProblem', () => {
  const sidecar: PartSidecar = { schema: 2, url: URL_SHOWN, etag: '"v1"', lastModified: undefined, total: 1000, bytesDone: 400, done: [[0, 400]] };
  it('adopts a part of this URL, with a strong validator, at least as long as its sidecar says', () => {
    expect(resumeProblem(sidecar, 400, URL_SHOWN)).toBeUndefined();
    expect(resumeProblem(sidecar, 650, URL_SHOWN)).toBeUndefined();
  });
  it('names why a part cannot be resumed', () => {
    expect(resumeProblem(undefined, 400, URL_SHOWN)).toBe('no sidecar');
    expect(resumeProblem(sidecar, 400, 'https://h.example/other.iso')).toBe('the part belongs to another URL');
    expect(resumeProblem({ ...sidecar, etag: 'W/"v1"' }, 400, URL_SHOWN)).toBe('the server gave no strong validator to resume against');
    expect(resumeProblem(sidecar, 399, URL_SHOWN)).toBe('the part is shorter than its sidecar says');
    // Pieces of a parallel download: the part must reach the end of the last durable range.
    const pieces: PartSidecar = { ...sidecar, done: [[0, 100], [500, 700]] };
    expect(resumeProblem(pieces, 700, URL_SHOWN)).toBeUndefined();
    expect(resumeProblem(pieces, 699, URL_SHOWN)).toBe('the part is shorter than its sidecar says');
    expect(resumeProblem({ ...sidecar, done: [[0, 500], [400, 700]] }, 700, URL_SHOWN)).toBe('the durable ranges are not sorted and disjoint');
    expect(resumeProblem({ ...sidecar, done: [[0, 1200]] }, 1200, URL_SHOWN)).toBe('a durable range lies past the end of the file');
    expect(resumeProblem({ ...sidecar, done: [[0, 'x']] as never }, 1200, URL_SHOWN)).toBe('a durable range is not two whole numbers');
  });
  it('reads a schema 1 sidecar (a prefix) as one durable range', () => {
    const old = { schema: 1, url: URL_SHOWN, etag: '"v1"', total: 1000, bytesDone: 400 };
    expect(readSidecar(JSON.stringify(old))).toEqual({ ...old, done: [[0, 400]] });
    expect(readSidecar(JSON.stringify({ ...old, bytesDone: 0 }))?.done).toEqual([]);
    expect(readSidecar(JSON.stringify({ ...old, schema: 3 }))).toBeUndefined();
    expect(readSidecar('null')).toBeUndefined();
  });
});
