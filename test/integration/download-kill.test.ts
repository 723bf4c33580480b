/**
 * SIGKILL mid-download, then start again: the new process resumes from the last durable
 * checkpoint (re-fetching at most one checkpoint interval) and ends with the exact file — on one
 * connection, and with several pieces in flight over four (each resumed from its durable point).
 * The downloader runs in a real child process: src/ is transpiled to JavaScript with TypeScript's
 * own transpiler (compileSources; no extra packages).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { compileSources } from '../fixtures/netns.js';
import { missingRanges, rangeBytes, type ByteRange } from '../../src/storage/download/segments.js';
import { union } from './download-helpers.js';
import { makeTempDirs } from './storage-helpers.js';

const temp = makeTempDirs();
const children: ChildProcess[] = [];
let server: TestHttpServer | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await server?.close();
  temp.cleanup();
});

const CHECKPOINT = 1024 * 1024;
let script = '';

let build = '';
afterAll(() => rmSync(build, { recursive: true, force: true }));
beforeAll(async () => {
  build = await compileSources();
  script = join(build, 'child.mjs');
  writeFileSync(
    script,
    `import { download } from './storage/download.js';
const [url, dir, sha256, connections] = process.argv.slice(2);
const log = { info() {}, warn() {}, debug() {}, error() {}, child() { return log; } };
const onProgress = (p) => { if (p) process.stdout.write(JSON.stringify({ bytesDone: p.bytesDone }) + '\\n'); };
const result = await download({ log, onProgress, signal: new AbortController().signal },
  { url, dir, fileName: 'file.bin', sha256, checkpointBytes: ${CHECKPOINT}, connections: Number(connections),
    parallelMinBytes: 1024 * 1024, maxPieceBytes: 512 * 1024 });
process.stdout.write(JSON.stringify({ done: true, fetched: result.fetchedBytes }) + '\\n');
`,
  );
});

function run(url: string, dir: string, sha256: string, onLine: (line: Record<string, unknown>) => void, connections = 1): Promise<number | null> {
  const child = spawn(process.execPath, [script, url, dir, sha256, String(connections)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  createInterface({ input: child.stdout! }).on('line', (line) => onLine(JSON.parse(line) as Record<string, unknown>));
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('download across a SIGKILL', () => {
  it('resumes from the last checkpoint and re-fetches at most one checkpoint interval', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const digest = createHash('sha256').update(body).digest('hex');
    const file = { body, etag: '"v1"' };
    server = await startHttpServer(({ index }) => ({ kind: 'serve', file, bytesPerSecond: index === 0 ? 3 * 1024 * 1024 : undefined }));
    const dir = temp.make();

    let reportedAtKill = 0;
    let sentAtKill = 0;
    const first = run(server.url(), dir, digest, (line) => {
      const done = Number(line.bytesDone ?? 0);
      if (done > 3.5 * 1024 * 1024 && reportedAtKill === 0) {
        reportedAtKill = done;
        sentAtKill = server!.requests[0]!.bytesSent;
        children[0]!.kill('SIGKILL');
      }
    });
    expect(await first).toBe(null);
    expect(children[0]!.signalCode).toBe('SIGKILL');
    const sidecar = JSON.parse(readFileSync(join(dir, 'file.bin.part.json'), 'utf8')) as { bytesDone: number; etag: string };
    expect(sidecar.etag).toBe('"v1"');

    let fetched = -1;
    const second = run(server.url(), dir, digest, (line) => {
      if (line.done) fetched = Number(line.fetched);
    });
    expect(await second).toBe(0);
    const resume = server.requests[1]!;
    const start = Number(/^bytes=(\d+)-$/.exec(resume.range ?? '')?.[1]);
    expect(resume).toMatchObject({ ifRange: '"v1"', status: 206 });
    expect(start).toBe(sidecar.bytesDone);
    // Resumed at the last durable checkpoint: never past what was received, at most one interval back.
    expect(start).toBeLessThanOrEqual(sentAtKill);
    expect(start).toBeGreaterThanOrEqual(reportedAtKill - CHECKPOINT);
    expect(fetched).toBe(body.length - start);
    expect(createHash('sha256').update(readFileSync(join(dir, 'file.bin'))).digest('hex')).toBe(digest);
  });

  it('resumes every piece in flight over four connections from its durable point, with Range requests', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const digest = createHash('sha256').update(body).digest('hex');
    const file = { body, etag: '"v2"' };
    let throttled = true;
    // 1 MiB/s per connection in the first run: four pieces are in flight when the kill lands.
    server = await startHttpServer(() => ({ kind: 'serve', file, bytesPerSecond: throttled ? 1024 * 1024 : undefined }));
    const dir = temp.make();

    let killed = false;
    const first = run(server.url(), dir, digest, (line) => {
      if (!killed && Number(line.bytesDone ?? 0) > 3.5 * 1024 * 1024) {
        killed = true;
        children[0]!.kill('SIGKILL');
      }
    }, 4);
    expect(await first).toBe(null);
    throttled = false;
    const firstRun = server.requests.length;
    const inFlight = server.requests.filter((r) => r.bytesSent < r.end - r.start);
    expect(inFlight.length, JSON.stringify(server.requests)).toBeGreaterThanOrEqual(2);
    const sidecar = JSON.parse(readFileSync(join(dir, 'file.bin.part.json'), 'utf8')) as { done: ByteRange[]; etag: string; total: number };
    expect(sidecar).toMatchObject({ etag: '"v2"', total: body.length });
    // Durable ranges with gaps: pieces had arrived beyond the first unfinished one.
    expect(sidecar.done.length, JSON.stringify(sidecar.done)).toBeGreaterThan(1);
    // Never a byte the first run had not received: the durable ranges lie inside what was sent.
    const sent = server.requests.map((r): ByteRange => [r.start, r.start + r.bytesSent]);
    const notSent = missingRanges(union(sent), body.length);
    for (const [start, end] of sidecar.done) {
      expect(notSent.every(([a, b]) => b <= start || a >= end), `durable ${start}-${end} was sent`).toBe(true);
    }

    let fetched = -1;
    const second = run(server.url(), dir, digest, (line) => {
      if (line.done) fetched = Number(line.fetched);
    }, 4);
    expect(await second).toBe(0);
    // The restart asks for exactly what was not durable: closed Range requests with If-Range,
    // together the gaps of the sidecar, each piece from its durable point.
    const resumed = server.requests.slice(firstRun);
    const missing = missingRanges(sidecar.done, body.length);
    const asked = resumed.map((r): ByteRange => {
      const match = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
      expect(match, JSON.stringify(r)).not.toBeNull();
      expect(r).toMatchObject({ ifRange: '"v2"', status: 206 });
      return [Number(match![1]), Number(match![2]) + 1];
    });
    for (const [start] of missing) expect(asked.some(([s]) => s === start), `a request from ${start}`).toBe(true);
    for (const [start, end] of asked) expect(missing.some(([s, e]) => s <= start && end <= e), `${start}-${end} inside a gap`).toBe(true);
    expect(rangeBytes(asked)).toBe(rangeBytes(missing));
    expect(fetched).toBe(rangeBytes(missing));
    expect(createHash('sha256').update(readFileSync(join(dir, 'file.bin'))).digest('hex')).toBe(digest);
  });
});
