/**
 * No dead end when Microsoft refuses: the sources of a catalog entry tried in order with real
 * downloads. Microsoft is the loopback replay of its recorded answers (refusing, banning); the
 * static links and mirrors are a scripted file server on port 0 (404, 410, wrong bytes). Each
 * file goes through the storage stage's real downloader into STORAGE, verified against the digest
 * the test entry pins.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { AppError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { download } from '../../src/storage/download.js';
import { safeDownloadName, type FetchMedia } from '../../src/storage/prepare.js';
import type { RunContext } from '../../src/supervisor/context.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { answerFileInput } from '../../src/windows/answer-input.js';
import { CATALOG, type CatalogEntry, type MediaRoute } from '../../src/windows/catalog.js';
import { defaultVersionMediaDeps, WINDOWS_DOWNLOAD, windowsVersionMedia, withMediaLanguage } from '../../src/windows/version-media.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { startMicrosoftReplay, type ReplayMode, type ReplayServer } from '../fixtures/microsoft/replay-server.js';

const ISO = Buffer.alloc(96 * 1024, 0x5a);
const WRONG = Buffer.alloc(96 * 1024, 0x17);
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let dir: string;
let microsoft: ReplayServer | undefined;
let files: TestHttpServer | undefined;
let lines: { level: number; msg: string; [key: string]: unknown }[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-fallback-'));
  await mkdir(join(dir, 'storage'));
  await mkdir(join(dir, 'root'));
  lines = [];
});
afterEach(async () => {
  await microsoft?.close();
  await files?.close();
  microsoft = files = undefined;
  await rm(dir, { recursive: true, force: true });
});

/**
 * The file server: `/ok/*` the right bytes, `/bad/*` wrong ones, `/404/*`, `/410/*` those
 * statuses, `/reset/*` wrong bytes whose connection is cut after 32 KiB once (sent slowly, so
 * that they arrive before the cut), then at once.
 */
async function startFiles(): Promise<TestHttpServer> {
  let resets = 0;
  return startHttpServer(({ path }) => {
    const status = /^\/(404|410)\//.exec(path)?.[1];
    if (status) return { kind: 'status', status: Number(status) };
    if (path.startsWith('/reset/')) return { kind: 'serve', file: { body: WRONG, etag: '"v1"' }, dropAfter: resets++ === 0 ? 32 * 1024 : 0, bytesPerSecond: 256 * 1024 };
    return { kind: 'serve', file: { body: path.startsWith('/bad/') ? WRONG : ISO, etag: '"v1"' } };
  });
}

const base = (key: string) => CATALOG.find((e) => e.key === key)!;
const pinnedStatic = (url: string): MediaRoute => ({ kind: 'static', culture: 'en-US', url, sha256: sha(ISO) });
const pinnedMirror = (file: string): MediaRoute => ({ kind: 'mirror', culture: 'en-US', file, sha256: sha(ISO) });

async function setup(mode: ReplayMode, entry: CatalogEntry, env: Record<string, string>, replayFiles: Record<string, Buffer> = {}) {
  microsoft = await startMicrosoftReplay(mode, { files: replayFiles });
  const config = resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), VERSION: entry.key, ...env });
  const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }) });
  const ctx: RunContext = { config, log, status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal };
  const options = { endpoints: microsoft.endpoints, newSessionId: () => '11111111-2222-4333-8444-555555555555' };
  const resolve = windowsVersionMedia({
    microsoft: defaultVersionMediaDeps(options).microsoft,
    userMediaPaths: (storageDir, ownFiles) => ({ bootIso: join(dir, 'root', 'boot.iso'), storageDir, rootDir: join(dir, 'root'), knownOtherPaths: [], ownFiles }),
    resolve: () => ({ kind: 'catalog', entry }),
    retryDelayMs: 0,
  });
  // The storage stage's downloader, as prepare.ts hands it to the resolver, with a shorter
  // back-off so that a connection that keeps breaking uses its retries up quickly, and one
  // connection: the assertions read the exact requests each source got (pieces over several
  // connections are download-parallel.test.ts's subject).
  const fetchMedia: FetchMedia = async (r) =>
    (await download({ log, signal: ctx.signal, onProgress: () => undefined }, { url: r.url, dir: config.storage, fileName: safeDownloadName(r.fileName), sha256: r.sha256, maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5, connections: 1 })).path;
  return { ctx, run: () => resolve(entry.key, ctx, fetchMedia) };
}

const linkRequests = () => microsoft!.requests.filter((r) => r.url.includes('GetProductDownloadLinksBySku')).length;
const logged = (msg: string) => lines.filter((l) => l.msg === msg);
const storageFiles = async () => (await readdir(join(dir, 'storage'))).filter((f) => f !== 'windock.json').sort();

describe('download sources, in order, with real downloads', () => {
  it('takes the static link when Microsoft bans the live flow (no retry of a ban), records it, and asks nobody on restart', async () => {
    files = await startFiles();
    const entry: CatalogEntry = { ...base('11'), routes: [{ kind: 'consumer', page: 'windows11' }, pinnedStatic(files.url('/ok/Win11_static_en-us.iso'))] };
    const { ctx, run } = await setup('blocked-html', entry, { LANGUAGE: 'English' });
    const iso = join(dir, 'storage', 'Win11_static_en-us.iso');
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect(sha(await readFile(iso))).toBe(sha(ISO));
    expect(linkRequests()).toBe(1);
    expect(logged('download link lookup failed; trying the next source').map((l) => l['reason'])).toEqual([expect.stringContaining('715-123130')]);
    expect(await WINDOWS_DOWNLOAD.read(ctx.state)).toEqual({ version: '11', language: 'en-US', fileName: 'Win11_static_en-us.iso', source: `Microsoft static link ${files.url('/ok/Win11_static_en-us.iso')}` });

    const seen = { microsoft: microsoft!.requests.length, files: files.requests.length };
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect({ microsoft: microsoft!.requests.length, files: files.requests.length }).toEqual(seen);
    expect(logged('reusing the Windows ISO downloaded before')).toHaveLength(1);
  });

  it('falls through a static link that answers 404 and one that answers 410 to the mirror', async () => {
    files = await startFiles();
    const entry: CatalogEntry = {
      ...base('11'),
      routes: [pinnedStatic(files.url('/404/gone-a.iso')), pinnedStatic(files.url('/410/gone-b.iso')), pinnedMirror('mirrored.iso'), { kind: 'consumer', page: 'windows11' }],
    };
    const { run } = await setup('blocked-json', entry, { LANGUAGE: 'English', MIRRORS: files.url('/ok') });
    expect(await run()).toEqual({ kind: 'path', path: join(dir, 'storage', 'mirrored.iso') });
    expect(files.requests.map((r) => `${r.status} ${r.path}`)).toEqual(['404 /404/gone-a.iso', '410 /410/gone-b.iso', '200 /ok/mirrored.iso']);
    expect(logged('download failed; trying the next source').map((l) => l['reason'])).toEqual([expect.stringContaining('404'), expect.stringContaining('410')]);
    expect(await storageFiles()).toEqual(['mirrored.iso']);
  });

  it('moves past a mirror whose bytes do not match the pinned digest, and keeps none of them', async () => {
    files = await startFiles();
    const entry: CatalogEntry = { ...base('10i'), routes: [pinnedMirror('ltsc.iso')] };
    const { run } = await setup('ok', entry, { MIRRORS: `${files.url('/bad')} ${files.url('/ok')}` });
    const iso = join(dir, 'storage', 'ltsc.iso');
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect(sha(await readFile(iso))).toBe(sha(ISO));
    const failed = logged('download failed; trying the next source');
    expect(failed.map((l) => l['reason'])).toEqual([expect.stringContaining(`has SHA-256 ${sha(WRONG)}, expected ${sha(ISO)}`)]);
    expect(await storageFiles()).toEqual(['ltsc.iso']);
  });

  it('moves on when a static link\'s connection keeps breaking after the download\'s own retries; its part is not resumed with the mirror\'s bytes', async () => {
    files = await startFiles();
    const entry: CatalogEntry = { ...base('8e'), routes: [pinnedStatic(files.url('/reset/8e.iso')), pinnedMirror('8e.iso')] };
    const { run } = await setup('ok', entry, { MIRRORS: files.url('/ok') });
    const iso = join(dir, 'storage', '8e.iso');
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect(sha(await readFile(iso))).toBe(sha(ISO));
    // The static link's 32 KiB (wrong bytes, same file name) were not spliced onto: the mirror's
    // download starts at byte 0.
    expect(files.requests.map((r) => [r.path, r.range])).toEqual([['/reset/8e.iso', undefined], ['/reset/8e.iso', 'bytes=32768-'], ['/ok/8e.iso', undefined]]);
    expect(logged('download failed; trying the next source').map((l) => l['reason'])).toEqual([expect.stringContaining('failed 2 times in a row')]);
    expect(logged('starting the download from the beginning').map((l) => l['reason'])).toEqual(['the part belongs to another URL']);
  });

  it('ends with exit 4 naming every source and why when all fail; the wrong bytes are not kept as the ISO', async () => {
    files = await startFiles();
    const entry: CatalogEntry = {
      ...base('11'),
      routes: [{ kind: 'consumer', page: 'windows11' }, { kind: 'esd', product: 'windows11', edition: 'Professional' }, pinnedStatic(files.url('/404/static.iso')), pinnedMirror('m.iso')],
    };
    const { ctx, run } = await setup('blocked-json', entry, { LANGUAGE: 'English', MIRRORS: files.url('/bad') });
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    const app = error as AppError;
    expect(app.exitCode).toBe(4);
    expect(app.message).toContain('Microsoft download flow (windows11, en-US): link lookup failed, Microsoft refused');
    // The replay has no recording of the ESD catalog's fwlink: a 404, like a catalog gone.
    expect(app.message).toContain(`Microsoft ESD catalog (windows11 Professional, en-US): link lookup failed, Microsoft's ESD catalog ${microsoft!.base}/fwlink?linkid=2156292: the answer was HTTP 404`);
    expect(app.message).toContain(`Microsoft static link ${files.url('/404/static.iso')}: download failed, the server has no such file (404 Not Found)`);
    expect(app.message).toContain(`mirror ${files.url('/bad/m.iso')}: download failed`);
    expect(app.hint).toContain('/boot.iso');
    expect(app.hint).toContain('MIRRORS');
    expect(await storageFiles()).toEqual([]);
    expect(await WINDOWS_DOWNLOAD.read(ctx.state)).toBeUndefined();
  });

  it('falls back to English media when the German fwlink leads to an English file, once warned, with German formats and keyboard', async () => {
    const entry = base('2022');
    const { ctx, run } = await setup('eval-english-only', entry, { LANGUAGE: 'German' }, { 'SERVER_EVAL_x64FRE_en-us.iso': ISO });
    const iso = join(dir, 'storage', 'SERVER_EVAL_x64FRE_en-us.iso');
    expect(await run()).toEqual({ kind: 'path', path: iso });
    const warned = logged('no media in the language asked could be had: falling back to English media; REGION and KEYBOARD keep the language asked');
    expect(warned.map((l) => ({ level: l.level, asked: l['asked'], used: l['used'] }))).toEqual([{ level: 40, asked: 'de-DE', used: 'en-US' }]);
    expect(logged('download link lookup failed; trying the next source').map((l) => l['reason'])).toEqual([expect.stringContaining('no German (de-DE) download')]);
    const record = await WINDOWS_DOWNLOAD.read(ctx.state);
    expect(record).toMatchObject({ version: '2022', language: 'de-DE', mediaLanguage: 'en-US', fileName: 'SERVER_EVAL_x64FRE_en-us.iso' });

    // The answer file: Setup in the media's language, formats and keyboard German.
    const config = withMediaLanguage(ctx.config, record, iso);
    const { input } = answerFileInput(config, { entry, firmware: 'uefi', drives: [], systemBus: 'sata', tpm: false, oem: false });
    expect({ ui: input.settings.uiLanguage, locale: input.settings.locale, keyboard: input.settings.inputLocale }).toEqual({ ui: 'en-US', locale: 'de-DE', keyboard: 'de-DE' });
    // A KEYBOARD the user set stays as set.
    // An ISO mounted later is not the recorded download: its language is not assumed English.
    expect(withMediaLanguage(ctx.config, record, join(dir, 'root', 'boot.iso'))).toBe(ctx.config);
    const own = answerFileInput(withMediaLanguage({ ...ctx.config, keyboard: 'de-CH' }, record, iso), { entry, firmware: 'uefi', drives: [], systemBus: 'sata', tpm: false, oem: false });
    expect(own.input.settings.inputLocale).toBe('de-CH');
  });
});
