/**
 * The ISO on an HTTP server read through range requests: real ISOs (genisoimage UDF bridge, as
 * Microsoft's, and xorriso ISO 9660 + Joliet) holding an install.wim made by wimlib, behind the
 * scripted file server on 127.0.0.1 port 0. The metadata costs a few small ranges; a server that
 * ignores Range, a file that changes between two requests, a stalled answer, a byte cap and a URL
 * with credentials each end in an AppError naming the URL without its secrets, never in a read of
 * the whole file.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { readRemoteIsoMetadata } from '../../../src/windows/http-byte-source.js';
import { startHttpServer, type Action, type RequestRecord, type TestHttpServer } from '../../fixtures/http-server.js';
import { buildIso, buildWim, WINDOWS_11_MULTI } from '../../fixtures/windows-iso.js';

let dir: string;
const isos: Record<'udf' | 'joliet', Buffer> = { udf: Buffer.alloc(0), joliet: Buffer.alloc(0) };
let server: TestHttpServer | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-http-iso-'));
  const wimDir = join(dir, 'wim');
  await mkdir(wimDir);
  const wim = await buildWim(wimDir, WINDOWS_11_MULTI);
  // Filler before and after install.wim, as the gigabytes of a real ISO: none of it may be read.
  const filler = join(dir, 'filler.bin');
  await writeFile(filler, Buffer.alloc(24 * 2 ** 20, 0x5a));
  const files = { 'setup.exe': 'MZ', 'boot/boot.sdi': { from: filler }, 'sources/boot.wim': { from: filler }, 'sources/install.wim': { from: wim }, 'support/tools.bin': { from: filler } };
  for (const format of ['udf', 'joliet'] as const) isos[format] = await readFile(await buildIso(dir, `win11-${format}`, { format, files }));
}, 120_000);

afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const serve = (body: Buffer, extra: Partial<Extract<Action, { kind: 'serve' }>> = {}, etag = '"iso-1"'): Action => ({ kind: 'serve', file: { body, etag }, ...extra });
const shown = (requests: RequestRecord[]) => JSON.stringify(requests.map((r) => ({ range: r.range, ifRange: r.ifRange, status: r.status, bytes: r.bytesSent })));

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, String(error)).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe('media');
  return error as AppError;
}

describe('an ISO read through range requests', () => {
  it.each(['udf', 'joliet'] as const)('%s: every image of install.wim, from a few small ranges of the ISO', async (format) => {
    const body = isos[format];
    server = await startHttpServer(() => serve(body));
    const read = await readRemoteIsoMetadata(server.url('/media/win11.iso'));
    expect(read.metadata.kind).toBe('windows');
    if (read.metadata.kind !== 'windows') return;
    expect(read.metadata.images.map((i) => [i.index, i.name, i.editionId, i.version?.build])).toEqual([
      [1, 'Windows 11 Home', 'Core', 22631],
      [2, 'Windows 11 Education', 'Education', 22631],
      [3, 'Windows 11 Pro', 'Professional', 22631],
      [4, 'Windows 11 Pro for Workstations', 'ProfessionalWorkstation', 22631],
    ]);
    const requests = server.requests;
    const sent = requests.reduce((sum, r) => sum + r.bytesSent, 0);
    const seen = `${body.length}-byte ISO, requests: ${shown(requests)}`;
    console.log(`${format}: ${seen}`);
    expect(read.size, seen).toBe(body.length);
    // Closed ranges only, each after the first against the first answer's ETag.
    expect(requests.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? '') && r.status === 206), seen).toBe(true);
    expect(requests.slice(1).every((r) => r.ifRange === '"iso-1"'), seen).toBe(true);
    expect(requests.length, seen).toBeLessThanOrEqual(8);
    expect(sent, seen).toBe(read.fetchedBytes);
    expect(sent, seen).toBeLessThan(body.length / 50);
  });

  it('a redirect is followed for every range, as the download follows it', async () => {
    server = await startHttpServer(({ path }) => (path === '/moved.iso' ? { kind: 'status', status: 302, headers: { location: '/media/win11.iso' } } : serve(isos.udf)));
    const read = await readRemoteIsoMetadata(server.url('/moved.iso'));
    expect(read.metadata, shown(server.requests)).toMatchObject({ kind: 'windows', images: [{ index: 1 }, { index: 2 }, { index: 3 }, { index: 4 }] });
    const served = server.requests.filter((r) => r.path === '/media/win11.iso');
    expect(served.length, shown(server.requests)).toBe(read.requests.length);
    expect(served.every((r) => r.status === 206), shown(server.requests)).toBe(true);
  });

  it('a server that ignores Range (200 with the whole body): an error saying so, and the body is not downloaded', async () => {
    const body = isos.udf;
    server = await startHttpServer(() => serve(body, { ignoreRange: true }));
    const error = await failure(readRemoteIsoMetadata(server.url('/win11.iso')));
    expect(error.message).toMatch(/^the ISO at http:\/\/127\.0\.0\.1:\d+\/win11\.iso cannot be read before its download: the server ignores Range/);
    const requests = server.requests;
    expect(requests.map((r) => r.status), shown(requests)).toEqual([200]);
    expect(requests[0]!.bytesSent, shown(requests)).toBeLessThan(body.length / 2);
  });

  it('the file changes on the server between two requests (another ETag): an error, nothing mixed', async () => {
    const body = isos.udf;
    server = await startHttpServer(({ index }) => serve(body, {}, index === 0 ? '"iso-1"' : '"iso-2"'));
    const error = await failure(readRemoteIsoMetadata(server.url('/win11.iso')));
    expect(error.message, shown(server.requests)).toContain('the file changed on the server');
    // The second request asked for the first version; the server's 200 (If-Range, RFC 9110 §13.1.5) was refused.
    expect(server.requests.map((r) => [r.ifRange, r.status]), shown(server.requests)).toEqual([
      [undefined, 206],
      ['"iso-1"', 200],
    ]);
  });

  it('a server that honours Range whatever If-Range says, with a new ETag: refused as well', async () => {
    server = await startHttpServer(({ index }) => serve(isos.udf, { ignoreIfRange: true }, index === 0 ? '"iso-1"' : '"iso-2"'));
    const error = await failure(readRemoteIsoMetadata(server.url('/win11.iso')));
    expect(error.message, shown(server.requests)).toContain('the file changed on the server');
  });

  it('a stalled answer ends within the request timeout', async () => {
    server = await startHttpServer(({ index }) => serve(isos.udf, index === 0 ? {} : { stallAfter: 100 }));
    const error = await failure(readRemoteIsoMetadata(server.url('/win11.iso'), { requestTimeoutMs: 300 }));
    expect(error.message).toMatch(/a request for bytes \d+-\d+ got no whole answer within 300 ms/);
    expect(server.requests).toHaveLength(2);
  });

  it('a slow server ends within the overall timeout', async () => {
    server = await startHttpServer(() => serve(isos.udf, { bytesPerSecond: 64 * 1024 }));
    const error = await failure(readRemoteIsoMetadata(server.url('/win11.iso'), { totalTimeoutMs: 300 }));
    expect(error.message).toContain('its metadata could not be read within 300 ms');
  });

  it('more bytes than the cap allows: refused before the request', async () => {
    server = await startHttpServer(() => serve(isos.udf));
    const error = await failure(readRemoteIsoMetadata(server.url('/win11.iso'), { maxBytes: 128 * 1024 }));
    expect(error.message).toContain('would fetch more than 131072 bytes');
    expect(server.requests.reduce((sum, r) => sum + r.bytesSent, 0)).toBeLessThanOrEqual(128 * 1024);
  });

  it('a 404, and a URL with credentials: errors that never show the credentials or the query', async () => {
    server = await startHttpServer(() => ({ kind: 'status', status: 404 }));
    const missing = await failure(readRemoteIsoMetadata(`${server.url('/gone.iso')}?token=s3cret`));
    expect(missing.message).toMatch(/has no such file \(404 Not Found\)/);
    expect(missing.message).not.toContain('s3cret');
    const secret = await failure(readRemoteIsoMetadata(server.url('/win11.iso').replace('http://', 'http://me:pa55word@')));
    expect(secret.message).toContain('carries a user name or password');
    expect(JSON.stringify({ message: secret.message, details: secret.details })).not.toMatch(/pa55word|me:/);
    expect(server.requests).toHaveLength(1);
  });

  it('an ISO without install.wim is not Windows media; a file that is no ISO is unreadable', async () => {
    const linux = await readFile(await buildIso(dir, 'linux', { format: 'joliet', files: { 'boot/vmlinuz': 'kernel' } }));
    server = await startHttpServer(({ path }) => serve(path === '/linux.iso' ? linux : Buffer.alloc(1024 * 1024)));
    expect((await readRemoteIsoMetadata(server.url('/linux.iso'))).metadata).toEqual({ kind: 'not-windows' });
    const zeros = await failure(readRemoteIsoMetadata(server.url('/zeros.iso')));
    expect(zeros.message).toMatch(/zeros\.iso cannot be read as an ISO image: it has no ISO 9660 volume descriptor/);
  });
});
