/**
 * No dead end when Microsoft refuses: the sources of a catalog entry tried in order with real
 * downloads. Microsoft is the loopback replay of its recorded answers (refusing, banning); the
 * static links and mirrors are a scripted file server on port 0 (404, 410, wrong bytes). Each
 * file goes through the storage stage's real downloader into STORAGE, verified against the digest
 * the test entry pins.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { answerFileInput } from '../../src/windows/answer-input.js';
import { CATALOG, type CatalogEntry, type MediaRoute } from '../../src/windows/catalog.js';
import { defaultVersionMediaDeps, WINDOWS_DOWNLOAD, withMediaLanguage } from '../../src/windows/version-media.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { startMicrosoftReplay, type ReplayMode, type ReplayServer } from '../fixtures/microsoft/replay-server.js';
import { scratchPerTest, versionMediaRun } from '../fixtures/version-media-harness.js';

const ISO = Buffer.alloc(96 * 1024, 0x5a);
const WRONG = Buffer.alloc(96 * 1024, 0x17);
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const scratch = scratchPerTest('windock-fallback-');
let microsoft: ReplayServer | undefined;
let files: TestHttpServer | undefined;

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
  const replay = (microsoft = scratch.closeLater(await startMicrosoftReplay(mode, { files: replayFiles })));
  const options = { endpoints: replay.endpoints, newSessionId: () => '11111111-2222-4333-8444-555555555555' };
  return versionMediaRun(scratch, entry, env, defaultVersionMediaDeps(options).microsoft);
}

const linkRequests = () => microsoft!.requests.filter((r) => r.url.includes('GetProductDownloadLinksBySku')).length;
const logged = (msg: string) => scratch.lines.filter((l) => l.msg === msg);
const storageFiles = async () => (await readdir(join(scratch.dir, 'storage'))).filter((f) => f !== 'windock.json').sort();

describe('download sources, in order, with real downloads', () => {
  it('takes the static link when Microsoft bans the live flow (no retry of a ban), records it, and asks nobody on restart', async () => {
    files = scratch.closeLater(await startFiles());
    const entry: CatalogEntry = { ...base('11'), routes: [{ kind: 'consumer', page: 'windows11' }, pinnedStatic(files.url('/ok/Win11_static_en-us.iso'))] };
    const { ctx, run } = await setup('blocked-html', entry, { LANGUAGE: 'English' });
    const iso = join(scratch.dir, 'storage', 'Win11_static_en-us.iso');
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
    files = scratch.closeLater(await startFiles());
    const entry: CatalogEntry = {
      ...base('11'),
      routes: [pinnedStatic(files.url('/404/gone-a.iso')), pinnedStatic(files.url('/410/gone-b.iso')), pinnedMirror('mirrored.iso'), { kind: 'consumer', page: 'windows11' }],
    };
    const { run } = await setup('blocked-json', entry, { LANGUAGE: 'English', MIRRORS: files.url('/ok') });
    expect(await run()).toEqual({ kind: 'path', path: join(scratch.dir, 'storage', 'mirrored.iso') });
    expect(files.requests.map((r) => `${r.status} ${r.path}`)).toEqual(['404 /404/gone-a.iso', '410 /410/gone-b.iso', '200 /ok/mirrored.iso']);
    expect(logged('download failed; trying the next source').map((l) => l['reason'])).toEqual([expect.stringContaining('404'), expect.stringContaining('410')]);
    expect(await storageFiles()).toEqual(['mirrored.iso']);
  });

  it('moves past a mirror whose bytes do not match the pinned digest, and keeps none of them', async () => {
    files = scratch.closeLater(await startFiles());
    const entry: CatalogEntry = { ...base('10i'), routes: [pinnedMirror('ltsc.iso')] };
    const { run } = await setup('ok', entry, { MIRRORS: `${files.url('/bad')} ${files.url('/ok')}` });
    const iso = join(scratch.dir, 'storage', 'ltsc.iso');
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect(sha(await readFile(iso))).toBe(sha(ISO));
    const failed = logged('download failed; trying the next source');
    expect(failed.map((l) => l['reason'])).toEqual([expect.stringContaining(`has SHA-256 ${sha(WRONG)}, expected ${sha(ISO)}`)]);
    expect(await storageFiles()).toEqual(['ltsc.iso']);
  });

  it('moves on when a static link\'s connection keeps breaking after the download\'s own retries; its part is not resumed with the mirror\'s bytes', async () => {
    files = scratch.closeLater(await startFiles());
    const entry: CatalogEntry = { ...base('8e'), routes: [pinnedStatic(files.url('/reset/8e.iso')), pinnedMirror('8e.iso')] };
    const { run } = await setup('ok', entry, { MIRRORS: files.url('/ok') });
    const iso = join(scratch.dir, 'storage', '8e.iso');
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect(sha(await readFile(iso))).toBe(sha(ISO));
    // The static link's 32 KiB (wrong bytes, same file name) were not spliced onto: the mirror's
    // download starts at byte 0.
    expect(files.requests.map((r) => [r.path, r.range])).toEqual([['/reset/8e.iso', undefined], ['/reset/8e.iso', 'bytes=32768-'], ['/ok/8e.iso', undefined]]);
    expect(logged('download failed; trying the next source').map((l) => l['reason'])).toEqual([expect.stringContaining('failed 2 times in a row')]);
    expect(logged('starting the download from the beginning').map((l) => l['reason'])).toEqual(['the part belongs to another URL']);
  });

  it('ends with exit 4 naming every source and why when all fail; the wrong bytes are not kept as the ISO', async () => {
    files = scratch.closeLater(await startFiles());
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
    const iso = join(scratch.dir, 'storage', 'SERVER_EVAL_x64FRE_en-us.iso');
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
    expect(withMediaLanguage(ctx.config, record, join(scratch.dir, 'root', 'boot.iso'))).toBe(ctx.config);
    const own = answerFileInput(withMediaLanguage({ ...ctx.config, keyboard: 'de-CH' }, record, iso), { entry, firmware: 'uefi', drives: [], systemBus: 'sata', tpm: false, oem: false });
    expect(own.input.settings.inputLocale).toBe('de-CH');
  });
});
