/**
 * What the download tests share: real node:http servers on 127.0.0.1:0 (closed after each test),
 * a STORAGE directory (or a small tmpfs to fill), and a download() whose sleeps are recorded
 * instead of slept, so that back-off is asserted by value, not by time.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { defaultDownloadDeps, download, type DownloadDeps, type DownloadOptions } from '../../src/storage/download.js';
import { downloadProgressTo } from '../../src/supervisor/status.js';
import { startHttpServer, type Script, type TestHttpServer } from '../fixtures/http-server.js';
import { makeContext, type TestContext } from '../unit/storage/context.js';
import type { ByteRange } from '../../src/storage/download/segments.js';
import { makeTempDirs } from './storage-helpers.js';

export const MiB = 2 ** 20;
export const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** What download() takes from a run's context: progress goes to its status, as prepare.ts wires it. */
export const downloadContext = (ctx: TestContext) => ({ log: ctx.log, signal: ctx.signal, onProgress: downloadProgressTo(ctx.status) });

/** Registers the clean-up; `defaults` are the download options every run of this file gets. */
export function downloadHarness(defaults: Partial<DownloadOptions>) {
  const temp = makeTempDirs();
  const servers: TestHttpServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    temp.cleanup();
  });
  const serve = async (script: Script): Promise<TestHttpServer> => {
    const server = await startHttpServer(script);
    servers.push(server);
    return server;
  };
  /** `tmpfs`: STORAGE is a tmpfs of that size (`2m`), a small disk to fill. */
  const setup = (overrides: Partial<DownloadDeps> = {}, tmpfs?: string) => {
    const dir = tmpfs ? temp.makeTmpfs(tmpfs) : temp.make();
    const ctx = makeContext({ STORAGE: dir });
    const delays: number[] = [];
    const deps: DownloadDeps = {
      ...defaultDownloadDeps(),
      sleep: async (ms) => {
        delays.push(ms);
      },
      random: () => 0.5,
      ...overrides,
    };
    const run = (server: TestHttpServer, options: Partial<DownloadOptions> = {}) =>
      download(downloadContext(ctx), { url: `${server.url()}?token=secret-token`, dir, fileName: 'file.bin', checkpointBytes: 512 * 1024, ...defaults, ...options }, deps);
    return { dir, ctx, delays, deps, run, part: join(dir, 'file.bin.part'), final: join(dir, 'file.bin') };
  };
  return { temp, serve, setup };
}

/** The ranges merged where they touch, sorted. */
export function union(ranges: readonly ByteRange[]): ByteRange[] {
  const merged: [number, number][] = [];
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** Puts a small disk image beside the download; the returned check says it is byte-identical. */
export function diskBeside(dir: string): () => boolean {
  const path = join(dir, 'data.img');
  writeFileSync(path, Buffer.alloc(64 * 1024, 7));
  const before = sha(readFileSync(path));
  return () => sha(readFileSync(path)) === before;
}
