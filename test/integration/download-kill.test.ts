/**
 * SIGKILL mid-download, then start again: the new process resumes from the last durable
 * checkpoint (re-fetching at most one checkpoint interval) and ends with the exact file.
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
const [url, dir, sha256] = process.argv.slice(2);
const log = { info() {}, warn() {}, debug() {}, error() {}, child() { return log; } };
const onProgress = (p) => { if (p) process.stdout.write(JSON.stringify({ bytesDone: p.bytesDone }) + '\\n'); };
const result = await download({ log, onProgress, signal: new AbortController().signal },
  { url, dir, fileName: 'file.bin', sha256, checkpointBytes: ${CHECKPOINT} });
process.stdout.write(JSON.stringify({ done: true, fetched: result.fetchedBytes }) + '\\n');
`,
  );
});

function run(url: string, dir: string, sha256: string, onLine: (line: Record<string, unknown>) => void): Promise<number | null> {
  const child = spawn(process.execPath, [script, url, dir, sha256], { stdio: ['ignore', 'pipe', 'inherit'] });
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
});
