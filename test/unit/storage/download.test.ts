import { describe, expect, it } from 'vitest';
import { unreachable } from '../../../src/storage/download/attempt.js';
import { backoffDelay } from '../../../src/storage/download/job.js';
import { ifRangeValue, isRetryableStatus, parseContentRange } from '../../../src/storage/download/response-decision.js';
import { fileNameFromUrl, publicUrl } from '../../../src/storage/media.js';
import { safeDownloadName } from '../../../src/storage/prepare.js';

describe('download helpers', () => {
  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: undefined });
    expect(parseContentRange('bytes */1000')).toBeUndefined();
    expect(parseContentRange(null)).toBeUndefined();
  });
  it('uses only a strong ETag for If-Range, else Last-Modified', () => {
    expect(ifRangeValue({ etag: '"abc"', lastModified: 'x' })).toBe('"abc"');
    expect(ifRangeValue({ etag: 'W/"abc"', lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT' })).toBe('Wed, 01 Jan 2025 00:00:00 GMT');
    expect(ifRangeValue({ etag: 'W/"abc"', lastModified: undefined })).toBeUndefined();
  });
  it('retries 408, 429 and 5xx only', () => {
    expect([408, 429, 500, 502, 503].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 410, 416].some(isRetryableStatus)).toBe(false);
  });
  it('backs off exponentially with jitter under a cap', () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffDelay(n, 1000, 30_000, () => 1))).toEqual([1000, 2000, 4000, 8000, 30_000]);
    expect(backoffDelay(3, 1000, 30_000, () => 0)).toBe(400);
  });
  it('a URL with credentials, which fetch refuses naming it whole: an error without them, not retried', async () => {
    const url = 'http://me:pa55word@127.0.0.1:1/x.iso';
    const refused = await fetch(url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(refused)).toContain('pa55word');
    const error = unreachable(url, refused);
    expect({ message: error.message, retry: error.retry, cause: error.cause }).toEqual({ message: 'cannot fetch 127.0.0.1:1: the URL carries a user name or password, which HTTP requests here do not send', retry: false, cause: undefined });
    expect(unreachable('http://127.0.0.1:1/x.iso', new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }))).toMatchObject({ message: 'cannot reach 127.0.0.1:1: ECONNREFUSED', retry: true });
  });
  it('derives a safe file name and a public URL without secrets', () => {
    expect(fileNameFromUrl('https://h.example/a/Win11%20x64.iso?token=1')).toBe('Win11_x64.iso');
    expect(fileNameFromUrl('https://h.example/')).toBe('download.bin');
    expect(fileNameFromUrl('https://h.example/..')).toBe('download.bin');
    expect(fileNameFromUrl('https://h.example/', 'windows.iso')).toBe('windows.iso');
    expect(fileNameFromUrl('https://h.example/.hidden+1.iso')).toBe('hidden+1.iso');
    expect(publicUrl('https://user:pw@h.example:8443/x.iso?sig=s#f')).toBe('https://h.example:8443/x.iso');
    // A download never takes the name of the system disk or the state file.
    expect(safeDownloadName('data.qcow2')).toBe('download-data.qcow2');
    expect(safeDownloadName('windock.json')).toBe('download-windock.json');
    expect(safeDownloadName('golden.qcow2')).toBe('golden.qcow2');
  });
});
