/**
 * download() over several connections (CONNECTIONS) against real node:http servers on
 * 127.0.0.1:0: pieces fetched at once with Range + If-Range into one part, the digest in file
 * order, and what a server can do wrong — ignore Range, change the file between pieces, fail or
 * stall in the middle of a piece — each ending with the exact file or a clear error. The tests
 * lower the 64 MiB threshold and the piece size so that a 3 MiB file has 12 pieces.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cutPieces, missingRanges, pieceSize, type ByteRange } from '../../src/storage/download/segments.js';
import type { RequestRecord, Script, ServedFile } from '../fixtures/http-server.js';
import { expectAppError } from '../fixtures/app-error.js';
import { download } from '../../src/storage/download.js';
import { diskBeside, downloadContext, downloadHarness, MiB, sha, union } from './download-helpers.js';

const PIECE = 256 * 1024;
const { serve, setup } = downloadHarness({ connections: 4, parallelMinBytes: MiB, maxPieceBytes: PIECE });

const fileA: ServedFile = { body: randomBytes(3 * MiB), etag: '"a-1"' };
const fileB: ServedFile = { body: randomBytes(3 * MiB), etag: '"b-2"' };

/** A closed Range request's bytes [start, end), or undefined for `bytes=N-` or none. */
function closedRange(request: RequestRecord): ByteRange | undefined {
  const match = /^bytes=(\d+)-(\d+)$/.exec(request.range ?? '');
  return match ? [Number(match[1]), Number(match[2]) + 1] : undefined;
}

/** Serves fileA; the first request for a piece from `start` misbehaves as `fault` says. */
function onceFrom(start: number, fault: { dropAfter?: number; stallAfter?: number }): Script {
  let done = false;
  return ({ range }) => {
    const now = !done && Boolean(range?.startsWith(`bytes=${start}-`));
    done ||= now;
    return { kind: 'serve', file: fileA, ...(now ? fault : {}) };
  };
}

const pieceRequests = (requests: RequestRecord[]) => requests.filter((r) => closedRange(r) !== undefined);

describe('download over several connections', () => {
  it('fetches pieces over 4 connections at once into one part, with the exact bytes and digest', async () => {
    // 2 MiB/s per connection: each piece takes a while, so the connections overlap.
    const server = await serve(() => ({ kind: 'serve', file: fileA, bytesPerSecond: 2 * MiB }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(result).toMatchObject({ sha256: sha(fileA.body), bytes: fileA.body.length, fetchedBytes: fileA.body.length });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
    // The probe (bytes=0-) is the first piece; eleven closed ranges follow, each with If-Range.
    const [probe, ...rest] = server.requests;
    expect(probe).toMatchObject({ range: 'bytes=0-', ifRange: undefined, status: 206 });
    // (In the order the server saw them, which the connections' races may shuffle.)
    const byStart = [...rest].sort((a, b) => closedRange(a)![0] - closedRange(b)![0]);
    expect(byStart.map((r) => ({ range: closedRange(r), ifRange: r.ifRange, status: r.status }))).toEqual(
      cutPieces([[PIECE, fileA.body.length]], PIECE).map((range) => ({ range, ifRange: '"a-1"', status: 206 })),
    );
    expect(server.maxConcurrent, JSON.stringify(server.requests)).toBe(4);
    // The probe was cut after its piece, not read to the end.
    expect(probe!.bytesSent).toBeLessThan(fileA.body.length);
    expect(t.ctx.lines.find((l) => l.msg === 'downloading over several connections')).toMatchObject({ connections: 4, pieces: 12, pieceBytes: PIECE });
    // Progress is the sum over the pieces.
    expect(t.ctx.lines.filter((l) => l.msg === 'downloading').at(-1)).toMatchObject({ bytesDone: fileA.body.length, percent: 100 });
    expect(existsSync(`${t.part}.json`)).toBe(false);
  });

  it.each([
    ['a file under the threshold', { file: fileA }, { parallelMinBytes: 64 * MiB }, 206],
    ['a server that ignores Range', { file: fileA, ignoreRange: true }, {}, 200],
    ['a file without a validator (If-Range could not protect the pieces)', { file: { body: fileA.body } }, {}, 206],
  ])('keeps one connection for %s', async (_name, action, options, status) => {
    const server = await serve(() => ({ kind: 'serve', ...action }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body), ...options });
    expect(result.sha256).toBe(sha(fileA.body));
    expect(server.requests.map((r) => ({ range: r.range, status: r.status }))).toEqual([{ range: 'bytes=0-', status }]);
  });

  it('continues on one connection when a piece is answered 200 (Range ignored), never mixing the answers', async () => {
    const server = await serve(({ index }) => ({ kind: 'serve', file: fileA, ignoreRange: index > 0, bytesPerSecond: index === 0 ? 2 * MiB : undefined }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(result.sha256).toBe(sha(fileA.body));
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
    expect(t.ctx.lines.some((l) => l.msg === 'the server ignores Range; continuing on one connection')).toBe(true);
    // After it, one connection asks for the rest from the durable prefix (bytes=N-), and takes
    // the whole file when the server ignores that too.
    const last = server.requests.at(-1)!;
    expect(last.range, JSON.stringify(server.requests)).toMatch(/^bytes=\d+-$/);
    expect(last).toMatchObject({ status: 200, start: 0, bytesSent: fileA.body.length });
  });

  it('starts over when the ETag changes between pieces (If-Range → 200), never stitching two versions', async () => {
    const server = await serve(({ index }) => ({ kind: 'serve', file: index === 0 ? fileA : fileB, bytesPerSecond: index === 0 ? 2 * MiB : undefined }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileB.body) });
    expect(readFileSync(t.final).equals(fileB.body)).toBe(true);
    expect(result.sha256).toBe(sha(fileB.body));
    expect(server.requests[1]).toMatchObject({ ifRange: '"a-1"', status: 200 });
    expect(t.ctx.lines.some((l) => l.msg === 'the file changed on the server; starting from the beginning')).toBe(true);
    // A new probe, then pieces of the new version only.
    const restart = server.requests.findIndex((r, i) => i > 0 && r.range === 'bytes=0-');
    expect(restart, JSON.stringify(server.requests)).toBeGreaterThan(0);
    expect(server.requests.slice(restart + 1).every((r) => r.ifRange === '"b-2"' && r.status === 206)).toBe(true);
  });

  it('does not splice a piece whose 206 carries another ETag (a server ignoring If-Range)', async () => {
    const server = await serve(({ index }) => ({ kind: 'serve', file: index === 0 ? fileA : fileB, ignoreIfRange: true }));
    const t = setup();
    await t.run(server, { sha256: sha(fileB.body) });
    expect(readFileSync(t.final).equals(fileB.body)).toBe(true);
    expect(t.ctx.lines.some((l) => l.msg === 'the file changed on the server; starting from the beginning')).toBe(true);
  });

  it('retries a piece whose connection breaks mid-body from its last byte, with the same Range logic', async () => {
    const broken = 2 * PIECE;
    const server = await serve(onceFrom(broken, { dropAfter: 100_000 }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(result.sha256).toBe(sha(fileA.body));
    const retried = server.requests.find((r) => r.range === `bytes=${broken + 100_000}-${broken + PIECE - 1}`);
    expect(retried, JSON.stringify(server.requests)).toMatchObject({ ifRange: '"a-1"', status: 206 });
    // One retry after progress: the first of a series, base·(0.1+0.9·0.5).
    expect(t.delays).toEqual([550]);
    expect(result.fetchedBytes).toBe(fileA.body.length);
  });

  it('abandons a stalled piece after the idle timeout and fetches the rest of it again', async () => {
    const stalled = 3 * PIECE;
    const server = await serve(onceFrom(stalled, { stallAfter: 50_000 }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body), idleTimeoutMs: 400 });
    expect(result.sha256).toBe(sha(fileA.body));
    expect(t.ctx.lines.some((l) => l.msg === 'download interrupted; retrying' && l.reason === 'no data for 400 ms' && l.piece === `${stalled}-${stalled + PIECE}`)).toBe(true);
    expect(server.requests.some((r) => r.range === `bytes=${stalled + 50_000}-${stalled + PIECE - 1}` && r.status === 206)).toBe(true);
  });

  it('resumes a part with gaps: one Range request per missing piece, each from its durable point', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    const t = setup();
    const done: ByteRange[] = [[0, 300_000], [3 * PIECE, 900_000], [2 * MiB, 2 * MiB + 70_000]];
    // Garbage where nothing was durable: it must all be fetched again.
    const part = randomBytes(2 * MiB + 70_000 + 5000);
    for (const [start, end] of done) fileA.body.copy(part, start, start, end);
    writeFileSync(t.part, part);
    writeFileSync(`${t.part}.json`, JSON.stringify({ schema: 2, url: server.url(), etag: '"a-1"', total: fileA.body.length, bytesDone: 300_000, done }));
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
    const missing = missingRanges(done, fileA.body.length);
    const remaining = missing.reduce((sum, [start, end]) => sum + end - start, 0);
    expect(result.fetchedBytes).toBe(remaining);
    // No probe: the sidecar's validator guards every piece.
    expect(server.requests.every((r) => r.ifRange === '"a-1"' && r.status === 206 && closedRange(r))).toBe(true);
    const asked = server.requests.map((r) => closedRange(r)!).sort((a, b) => a[0] - b[0]);
    expect(asked).toEqual(cutPieces(missing, pieceSize(remaining, 4, PIECE)));
    expect(union(server.requests.map((r) => closedRange(r)!))).toEqual(missing);
  });

  it('on a stop makes every piece received durable, and a later run fetches only the gaps', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA, bytesPerSecond: MiB }));
    const t = setup();
    let reported = 0;
    t.ctx.status.subscribe((s) => {
      reported = s.download?.bytesDone ?? reported;
      if (reported > MiB) t.ctx.abort.abort();
    });
    const error = await expectAppError(t.run(server));
    const sidecar = JSON.parse(readFileSync(`${t.part}.json`, 'utf8')) as { done: ByteRange[] };
    const kept = sidecar.done.reduce((sum, [start, end]) => sum + end - start, 0);
    expect(error.message).toBe(`download of file.bin stopped by request; ${kept} bytes kept for resume`);
    // Everything received was made durable: at least what progress had reported.
    expect(kept).toBeGreaterThanOrEqual(reported);
    const part = readFileSync(t.part);
    for (const [start, end] of sidecar.done) expect(part.subarray(start, end).equals(fileA.body.subarray(start, end)), `range ${start}-${end}`).toBe(true);

    server.setScript(() => ({ kind: 'serve', file: fileA }));
    const before = server.requests.length;
    const u = setup();
    const result = await download(downloadContext(u.ctx), { url: server.url(), dir: t.dir, fileName: 'file.bin', sha256: sha(fileA.body), connections: 4, parallelMinBytes: MiB, maxPieceBytes: PIECE }, u.deps);
    expect(result.fetchedBytes).toBe(fileA.body.length - kept);
    expect(union(server.requests.slice(before).map((r) => closedRange(r)!))).toEqual(missingRanges(sidecar.done, fileA.body.length));
  });

  it('stops with exit 4 naming the part when the disk fills mid-download, every recorded range true', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    // The free-space check is told there is room, so that the disk really fills under the pieces.
    const t = setup({ freeBytes: async () => 2 ** 40 }, '2m');
    const diskUnchanged = diskBeside(t.dir);
    const error = await expectAppError(t.run(server, { sha256: sha(fileA.body) }));
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/^cannot write .*file\.bin\.part: ENOSPC: no space left on device/);
    expect(diskUnchanged()).toBe(true);
    expect(pieceRequests(server.requests).length).toBeGreaterThan(0);
    const part = readFileSync(t.part);
    if (existsSync(`${t.part}.json`)) {
      const sidecar = JSON.parse(readFileSync(`${t.part}.json`, 'utf8')) as { done: ByteRange[] };
      for (const [start, end] of sidecar.done) expect(part.subarray(start, end).equals(fileA.body.subarray(start, end)), `range ${start}-${end}`).toBe(true);
    }
    expect(existsSync(t.final)).toBe(false);
  });
});
