/**
 * download() against real node:http servers on 127.0.0.1:0 that misbehave on purpose. The result
 * is always the exact file (SHA-256 checked) or a clear error, with the .part kept where a resume
 * is safe (download-helpers.ts: sleeps are recorded, not slept).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { download } from '../../src/storage/download.js';
import type { ServedFile } from '../fixtures/http-server.js';
import { makeContext } from '../unit/storage/context.js';
import { diskBeside, downloadContext, downloadHarness, MiB, sha } from './download-helpers.js';
import { expectAppError } from '../fixtures/app-error.js';

// One connection: these are the single-connection contract (download-parallel.test.ts has CONNECTIONS).
const { serve, setup } = downloadHarness({ connections: 1 });

const fileA: ServedFile = { body: randomBytes(3 * MiB), etag: '"a-1"', lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT' };
const fileB: ServedFile = { body: randomBytes(3 * MiB + 123), etag: '"b-2"', lastModified: 'Thu, 02 Jan 2025 00:00:00 GMT' };

describe('download', () => {
  it('downloads the exact file, verifies it, reports progress and never logs the query', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    const t = setup();
    const phases: string[] = [];
    t.ctx.status.subscribe((s) => phases.push(s.phase));
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(result).toMatchObject({ path: t.final, sha256: sha(fileA.body), bytes: fileA.body.length, fetchedBytes: fileA.body.length, downloaded: true });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
    expect(existsSync(t.part)).toBe(false);
    expect(existsSync(`${t.part}.json`)).toBe(false);
    expect(phases).toContain('downloading');
    expect(t.ctx.status.snapshot.phase).toBe('preparing');
    const progress = t.ctx.lines.filter((l) => l.msg === 'downloading');
    expect(progress.length).toBeGreaterThanOrEqual(10);
    expect(progress.at(-1)).toMatchObject({ bytesDone: fileA.body.length, bytesTotal: fileA.body.length, percent: 100 });
    expect(JSON.stringify(t.ctx.lines)).not.toContain('secret-token');

    // A second call finds the final file and fetches nothing.
    const again = await t.run(server, { sha256: sha(fileA.body) });
    expect(again.downloaded).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it('resumes with Range + If-Range after the connection drops mid-body, with back-off', async () => {
    const server = await serve(({ index }) => (index < 2 ? { kind: 'serve', file: fileA, dropAfter: 700_000 } : { kind: 'serve', file: fileA }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(result.sha256).toBe(sha(fileA.body));
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
    const [first, second, third] = server.requests;
    expect(first).toMatchObject({ range: undefined, status: 200 });
    expect(second).toMatchObject({ range: `bytes=${first!.bytesSent}-`, ifRange: '"a-1"', status: 206, start: first!.bytesSent });
    expect(third).toMatchObject({ range: `bytes=${first!.bytesSent + second!.bytesSent}-`, status: 206 });
    // Each attempt made progress, so each retry is the first of a series: delay base·(0.1+0.9·0.5).
    expect(t.delays).toEqual([550, 550]);
    expect(result.fetchedBytes).toBe(fileA.body.length);
  });

  it('cuts torn bytes past the last checkpoint off a part and re-hashes the kept prefix', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    const t = setup();
    // A power cut's view: the sidecar names 2 000 000 durable bytes, garbage follows them.
    writeFileSync(t.part, Buffer.concat([fileA.body.subarray(0, 2_000_000), randomBytes(300_000)]));
    writeFileSync(`${t.part}.json`, JSON.stringify({ schema: 1, url: server.url(), etag: '"a-1"', total: fileA.body.length, bytesDone: 2_000_000 }));
    const resumed = await t.run(server, { sha256: sha(fileA.body) });
    expect(server.requests).toEqual([expect.objectContaining({ range: 'bytes=2000000-', status: 206 })]);
    expect(resumed).toMatchObject({ sha256: sha(fileA.body), fetchedBytes: fileA.body.length - 2_000_000 });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
  });

  it('restarts cleanly from 0 when the server ignores Range', async () => {
    const server = await serve(({ index }) => ({ kind: 'serve', file: fileA, dropAfter: index === 0 ? 1_000_000 : undefined, ignoreRange: index > 0 }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
    expect(server.requests[1]).toMatchObject({ range: 'bytes=1000000-', status: 200, start: 0 });
    expect(result.fetchedBytes).toBe(1_000_000 + fileA.body.length);
    expect(t.ctx.lines.some((l) => l.msg === 'the server sent the whole file; starting from the beginning' && l.reason === 'the server ignores Range')).toBe(true);
  });

  it('takes the new file when the ETag changes between attempts (If-Range → 200)', async () => {
    const server = await serve(({ index }) => (index === 0 ? { kind: 'serve', file: fileA, dropAfter: 900_000 } : { kind: 'serve', file: fileB }));
    const t = setup();
    const result = await t.run(server, { sha256: sha(fileB.body) });
    expect(readFileSync(t.final).equals(fileB.body)).toBe(true);
    expect(server.requests[1]).toMatchObject({ ifRange: '"a-1"', status: 200 });
    expect(result.sha256).toBe(sha(fileB.body));
  });

  it('does not splice a 206 that carries another ETag (a server ignoring If-Range)', async () => {
    const server = await serve(({ index }) =>
      index === 0 ? { kind: 'serve', file: fileA, dropAfter: 900_000 } : { kind: 'serve', file: fileB, ignoreIfRange: index === 1 },
    );
    const t = setup();
    await t.run(server);
    expect(readFileSync(t.final).equals(fileB.body)).toBe(true);
    expect(server.requests.map((r) => r.status)).toEqual([200, 206, 200]);
  });

  it('deletes the part and exits 4 with both digests when the bytes are wrong', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileB }));
    const t = setup();
    const error = await expectAppError(t.run(server, { sha256: sha(fileA.body) }));
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`file.bin from ${server.url()} has SHA-256 ${sha(fileB.body)}, expected ${sha(fileA.body)}`);
    expect(existsSync(t.part)).toBe(false);
    expect(existsSync(`${t.part}.json`)).toBe(false);
    expect(existsSync(t.final)).toBe(false);
  });

  it.each([
    [404, 'the server has no such file (404 Not Found) for'],
    [403, 'the server refused access (403 Forbidden) for'],
  ])('fails at once with a clear message on %i', async (status, words) => {
    const server = await serve(() => ({ kind: 'status', status }));
    const t = setup();
    const error = await expectAppError(t.run(server));
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`${words} ${server.url()}`);
    expect(server.requests).toHaveLength(1);
  });

  it('retries 503 and 429 (honouring Retry-After), then succeeds', async () => {
    const server = await serve(({ index }) =>
      index === 0
        ? { kind: 'status', status: 503 }
        : index === 1
          ? { kind: 'status', status: 429, headers: { 'retry-after': '2' } }
          : { kind: 'serve', file: fileA },
    );
    const t = setup();
    await t.run(server, { sha256: sha(fileA.body) });
    expect(t.delays).toEqual([550, 2000]);
  });

  it('gives up after a bounded number of attempts without progress, keeping the part for a restart', async () => {
    const server = await serve(({ index }) => (index === 0 ? { kind: 'serve', file: fileA, dropAfter: 600_000 } : { kind: 'status', status: 500 }));
    const t = setup();
    const error = await expectAppError(t.run(server, { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 300 }));
    expect(error.message).toMatch(/failed 4 times in a row: the server answered 500/);
    // 1st: after the drop (progress), then 2, 3 without progress; capped at 300.
    expect(t.delays).toEqual([55, 110, 165]);
    expect(statSync(t.part).size).toBe(600_000);
    expect(JSON.parse(readFileSync(`${t.part}.json`, 'utf8'))).toMatchObject({ url: server.url(), etag: '"a-1"', bytesDone: 600_000 });

    server.setScript(() => ({ kind: 'serve', file: fileA }));
    await t.run(server, { sha256: sha(fileA.body) });
    expect(server.requests.at(-1)).toMatchObject({ range: 'bytes=600000-', status: 206 });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
  });

  it('refuses a 206 that does not start where it asked, keeping the part', async () => {
    const server = await serve(({ index }) => (index === 0 ? { kind: 'serve', file: fileA, dropAfter: 600_000 } : { kind: 'serve', file: fileA, wrongStart: 0 }));
    const t = setup();
    const error = await expectAppError(t.run(server));
    expect(error.message).toBe('the server answered a request for bytes from 600000 with Content-Range "bytes 0-3145727/3145728"; refusing to splice it');
    expect(statSync(t.part).size).toBe(600_000);
  });

  it('retries a stalled body after the idle timeout', async () => {
    // The first answer trickles 16 KiB slices 16 s apart: longer than the idle timeout allows.
    const server = await serve(({ index }) => (index === 0 ? { kind: 'serve', file: fileA, bytesPerSecond: 1024 } : { kind: 'serve', file: fileA }));
    const t = setup();
    const result = await t.run(server, { idleTimeoutMs: 300, sha256: sha(fileA.body) });
    expect(result.sha256).toBe(sha(fileA.body));
    expect(t.ctx.lines.some((l) => l.msg === 'download interrupted; retrying' && /no data for 300 ms/.test(String(l.reason)))).toBe(true);
  });

  it('reports rate and ETA while a throttled download runs, and works without Content-Length', async () => {
    const small: ServedFile = { body: randomBytes(400 * 1024), etag: '"s"' };
    const server = await serve(() => ({ kind: 'serve', file: small, bytesPerSecond: 800 * 1024 }));
    const t = setup();
    const seen: { rate: number; eta: number | undefined }[] = [];
    t.ctx.status.subscribe((s) => s.download && seen.push({ rate: s.download.bytesPerSecond, eta: s.download.etaSeconds }));
    await t.run(server, { sha256: sha(small.body) });
    expect(seen.some((s) => s.rate > 0 && s.eta !== undefined)).toBe(true);

    server.setScript(() => ({ kind: 'serve', file: small, noLength: true }));
    const u = setup();
    const result = await u.run(server, { sha256: sha(small.body) });
    expect(result.bytes).toBe(small.body.length);
  });

  it('stops on the abort signal keeping the part, and a later run resumes it', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA, bytesPerSecond: 4 * MiB }));
    const t = setup();
    t.ctx.status.subscribe((s) => {
      if ((s.download?.bytesDone ?? 0) > 1_000_000) t.ctx.abort.abort();
    });
    const error = await expectAppError(t.run(server));
    expect(error.message).toMatch(/^download of file.bin stopped by request; \d+ bytes kept for resume$/);
    const kept = JSON.parse(readFileSync(`${t.part}.json`, 'utf8')).bytesDone as number;
    expect(kept).toBeGreaterThan(1_000_000);
    expect(statSync(t.part).size).toBe(kept);

    server.setScript(() => ({ kind: 'serve', file: fileA }));
    const ctx2 = makeContext({ STORAGE: t.dir });
    await download(downloadContext(ctx2), { url: server.url(), dir: t.dir, fileName: 'file.bin', sha256: sha(fileA.body) }, t.deps);
    expect(server.requests.at(-1)).toMatchObject({ range: `bytes=${kept}-`, status: 206 });
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
  });

  it('finishes a part that is already complete (416 on resume)', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    const t = setup();
    writeFileSync(t.part, fileA.body);
    writeFileSync(`${t.part}.json`, JSON.stringify({ schema: 1, url: server.url(), etag: '"a-1"', lastModified: undefined, total: fileA.body.length, bytesDone: fileA.body.length }));
    const result = await t.run(server, { sha256: sha(fileA.body) });
    expect(server.requests).toEqual([expect.objectContaining({ status: 416 })]);
    expect(result.fetchedBytes).toBe(0);
    expect(readFileSync(t.final).equals(fileA.body)).toBe(true);
  });

  it('stops with a clear error when the disk fills mid-body (no Content-Length, a 2 MiB tmpfs), keeping what was written', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA, noLength: true }));
    const t = setup({}, '2m');
    const diskUnchanged = diskBeside(t.dir);
    const error = await expectAppError(t.run(server, { sha256: sha(fileA.body) }));
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/^cannot write .*file\.bin\.part: ENOSPC: no space left on device/);
    expect(diskUnchanged()).toBe(true);
    // One request: a full disk is not retried. The part is a true prefix of the file, and the
    // sidecar names no more than the part holds.
    expect(server.requests).toHaveLength(1);
    const part = readFileSync(t.part);
    expect(part.length).toBeGreaterThan(0);
    expect(part.equals(fileA.body.subarray(0, part.length))).toBe(true);
    if (existsSync(`${t.part}.json`)) {
      expect(JSON.parse(readFileSync(`${t.part}.json`, 'utf8')).bytesDone).toBeLessThanOrEqual(part.length);
    }
    expect(existsSync(t.final)).toBe(false);
  });

  it('stops with a clear error when the sidecar cannot be written, renaming nothing into place', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    const t = setup();
    // A directory where the sidecar goes: its atomic rename fails (EISDIR).
    mkdirSync(`${t.part}.json`);
    const error = await expectAppError(t.run(server, { sha256: sha(fileA.body) }));
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/^cannot write .*file\.bin\.part\.json: EISDIR/);
    expect(existsSync(t.final)).toBe(false);
  });

  it('refuses to start when STORAGE has less free space than the file (a 2 MiB tmpfs)', async () => {
    const server = await serve(() => ({ kind: 'serve', file: fileA }));
    const t = setup({}, '2m');
    const diskUnchanged = diskBeside(t.dir);
    const error = await expectAppError(t.run(server));
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/^not enough free space in .* for file.bin: 3145728 bytes needed, \d+ free$/);
    // Refused before a byte was written.
    expect(existsSync(t.part)).toBe(false);
    expect(diskUnchanged()).toBe(true);
  });
});
