/**
 * VERSION=<URL of an ISO> (and BOOT=<URL>.iso) is known before its download: a real Windows 11 ISO
 * (wimlib's install.wim in a genisoimage UDF bridge) behind the scripted file server on port 0.
 * The Windows profile reads its install image through range requests and gives a new disk
 * Windows 11's firmware (secure boot and a TPM); a completed download in STORAGE is read instead
 * of the server, an existing disk reads nothing; a server that ignores Range, or a URL with
 * credentials, falls back to Windows 10's defaults with one line saying why. Then the real binary,
 * stopped while its download stalls: the decision and the TPM come before the download.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { createLogger } from '../../src/core/log.js';
import { createWindowsProfile } from '../../src/windows/windows-profile.js';
import { startHttpServer, type Action, type Script, type TestHttpServer } from '../fixtures/http-server.js';
import { buildIso, buildWim } from '../fixtures/windows-iso.js';
import { freePort, killRuns, pollUntil, startWindock, tail, vmEnv, type LogLine, type WindockRun } from '../fixtures/windock.js';

let dir: string;
let iso: Buffer;
let server: TestHttpServer | undefined;
const runs: WindockRun[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-iso-url-'));
  await mkdir(join(dir, 'wim'));
  const wim = await buildWim(join(dir, 'wim'), [{ name: 'Windows 11 Pro', editionId: 'Professional', installationType: 'Client', build: 26100 }]);
  // Filler as the rest of a real ISO: what the profile reads must stay a small part of it.
  await writeFile(join(dir, 'filler.bin'), Buffer.alloc(16 * 2 ** 20, 0x5a));
  const files = { 'setup.exe': 'MZ', 'sources/boot.wim': { from: join(dir, 'filler.bin') }, 'sources/install.wim': { from: wim } };
  iso = await readFile(await buildIso(dir, 'my-win11', { format: 'udf', files }));
}, 120_000);

afterEach(async () => {
  await killRuns(runs);
  await server?.close();
  server = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const closedRange = (range: string | undefined) => /^bytes=\d+-\d+$/.test(range ?? '');
const serve = (extra: Partial<Extract<Action, { kind: 'serve' }>> = {}): Action => ({ kind: 'serve', file: { body: iso, etag: '"win11-1"' }, ...extra });
/** Closed ranges (the profile's) are answered; the download's open request stalls. */
const stalledDownload = (ranges: Action): Script => ({ range }) => (closedRange(range) ? ranges : serve({ stallAfter: 0 }));
const shown = (s: TestHttpServer) => JSON.stringify(s.requests.map((r) => ({ range: r.range, status: r.status, bytes: r.bytesSent })));

describe('the profile of an ISO at a URL, before its download', () => {
  async function profileOf(env: Record<string, string>) {
    const root = await mkdtemp(join(dir, 'run-'));
    const config = resolveConfig({ STORAGE: join(root, 'storage'), RUN_DIR: join(root, 'run'), RAM_SIZE: '4G', ...env });
    await mkdir(config.storage, { recursive: true });
    const lines: LogLine[] = [];
    const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c)) as LogLine), done()) }) });
    const make = async () => {
      const profile = await createWindowsProfile(config, log, new AbortController().signal);
      return { settled: profile.settle(config, { schema: 1 }, log), profile };
    };
    return { config, lines, make };
  }

  it('VERSION=<URL of a Windows 11 ISO>: entry 11, secure boot and a TPM, from a few small ranges', async () => {
    server = await startHttpServer(() => serve());
    const { lines, make } = await profileOf({ VERSION: server.url('/isos/my-win11.iso') });
    const { settled, profile } = await make();
    expect(settled.bootMode, JSON.stringify(lines)).toBe('secure');
    expect(profile.installsWithoutTpm).toBe(true);
    const read = lines.find((l) => l.msg === 'your own ISO at a URL: Windows read from its install image before the download');
    expect(read, JSON.stringify(lines)).toMatchObject({ version: '11', index: 1, name: 'Windows 11 Pro', build: 26100, url: server.url('/isos/my-win11.iso') });
    expect(lines.find((l) => l.bootMode !== undefined), JSON.stringify(lines)).toMatchObject({ version: '11', bootMode: 'secure' });
    const sent = server.requests.reduce((sum, r) => sum + r.bytesSent, 0);
    expect(server.requests.every((r) => closedRange(r.range) && r.status === 206), shown(server)).toBe(true);
    expect(server.requests.length, shown(server)).toBeLessThanOrEqual(6);
    expect(sent, shown(server)).toBeLessThan(iso.length / 20);
  });

  it('BOOT=<URL>.iso: the same Windows 11 defaults (before: none)', async () => {
    server = await startHttpServer(() => serve());
    const { make } = await profileOf({ BOOT: server.url('/my-win11.iso?sig=abc') });
    expect((await make()).settled.bootMode).toBe('secure');
  });

  it('a completed download in STORAGE is read, not the server; an existing disk reads nothing', async () => {
    server = await startHttpServer(() => serve());
    const downloaded = await profileOf({ VERSION: server.url('/my-win11.iso') });
    await copyFile(join(dir, 'my-win11.iso'), join(downloaded.config.storage, 'my-win11.iso'));
    expect((await downloaded.make()).settled.bootMode).toBe('secure');
    expect(server.requests, shown(server)).toEqual([]);

    const installed = await profileOf({ VERSION: server.url('/other-win11.iso') });
    await writeFile(join(installed.config.storage, 'data.qcow2'), 'a disk');
    expect((await installed.make()).settled).toMatchObject({ bootMode: 'uefi', diskType: 'sata' });
    expect(server.requests, shown(server)).toEqual([]);
    expect(installed.lines.some((l) => l.level === 20 && l.msg.includes('is not read before its download') && String(l.reason).includes('data.qcow2')), JSON.stringify(installed.lines)).toBe(true);
  });

  it('a server that ignores Range: Windows 10\'s defaults as before, one warning saying why', async () => {
    server = await startHttpServer(() => serve({ ignoreRange: true }));
    const { lines, make } = await profileOf({ VERSION: server.url('/my-win11.iso') });
    expect((await make()).settled).toMatchObject({ bootMode: 'uefi', diskType: 'sata' });
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings, JSON.stringify(lines)).toHaveLength(1);
    expect(warnings[0]!.msg).toBe('your own ISO at a URL could not be read before its download: Windows 10\'s defaults (UEFI without secure boot) until its download is read');
    expect(String(warnings[0]!.reason)).toContain('the server ignores Range');
    expect(server.requests.map((r) => r.status), shown(server)).toEqual([200]);
  });

  it('credentials and a query in the URL never reach the log', async () => {
    server = await startHttpServer(() => serve());
    const url = server.url('/my-win11.iso?token=s3cret').replace('http://', 'http://me:pa55word@');
    const { lines, make } = await profileOf({ VERSION: url });
    expect((await make()).settled.bootMode).toBe('uefi');
    const text = JSON.stringify(lines);
    expect(text).toContain('carries a user name or password');
    expect(text).not.toMatch(/pa55word|s3cret|me:/);
  });
});

describe('the real binary with VERSION=<URL of a Windows 11 ISO>', () => {
  async function start(script: Script): Promise<WindockRun> {
    server = await startHttpServer(script);
    const root = await mkdtemp(join(dir, 'bin-'));
    const env = vmEnv(join(root, 'storage'), join(root, 'run'), await freePort(), { VERSION: server.url('/my-win11.iso'), CONNECTIONS: '1' });
    const run = startWindock({ env });
    runs.push(run);
    return run;
  }
  const downloading = (run: WindockRun) => run.waitForLine((l) => l.msg === 'media comes from a download', 120_000);
  const before = (run: WindockRun, download: LogLine, match: (l: LogLine) => boolean) => run.lines.slice(0, run.lines.indexOf(download)).find(match);

  it('decides Windows 11 (secure boot, a TPM) before the download, whose stall a stop ends', async () => {
    const run = await start(stalledDownload(serve()));
    const download = await downloading(run);
    const seen = tail(run.lines, 40);
    expect(before(run, download, (l) => l.msg === 'your own ISO at a URL: Windows read from its install image before the download'), seen).toMatchObject({ version: '11', name: 'Windows 11 Pro' });
    expect(before(run, download, (l) => l.bootMode !== undefined && l.nic !== undefined), seen).toMatchObject({ version: '11', bootMode: 'secure' });
    expect(before(run, download, (l) => l.msg === 'swtpm started'), seen).toBeDefined();
    // The download's request reaches the server, and stalls there.
    await pollUntil(async () => server!.requests.some((r) => r.range === undefined), Boolean, 60_000);
    run.kill('SIGTERM');
    const exited = await run.exited;
    expect(exited.code, tail(run.lines)).toBe(0);
    // The ranges, then the one download request, which stalled.
    expect(server!.requests.at(-1), shown(server!)).toMatchObject({ range: undefined, bytesSent: 0 });
    expect(server!.requests.slice(0, -1).every((r) => closedRange(r.range)), shown(server!)).toBe(true);
  });

  it('a server that refuses Range: Windows 10\'s row (UEFI, no TPM) with the line saying why', async () => {
    const run = await start(stalledDownload(serve({ ignoreRange: true })));
    const download = await downloading(run);
    const seen = tail(run.lines, 40);
    expect(before(run, download, (l) => l.msg.startsWith('your own ISO at a URL could not be read before its download')), seen).toMatchObject({ reason: expect.stringContaining('ignores Range') });
    expect(before(run, download, (l) => l.bootMode !== undefined && l.nic !== undefined), seen).toMatchObject({ version: '10', bootMode: 'uefi' });
    expect(run.lines.some((l) => l.msg === 'swtpm started'), seen).toBe(false);
    run.kill('SIGTERM');
    expect((await run.exited).code, tail(run.lines)).toBe(0);
  });
});
