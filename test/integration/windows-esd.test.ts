/**
 * The ESD route for real: Microsoft's live flow refuses (the loopback replay of its answers), the
 * ESD catalog is a products.cab made with gcab behind a 302 like go.microsoft.com's fwlink, and
 * the ESD is a real solid LZMS archive made with wimlib in the test, laid out as Microsoft's:
 * "Windows Setup Media" (with boot/etfsboot.com and a FAT efisys.bin), "Microsoft Windows PE
 * (amd64)", "Microsoft Windows Setup (amd64)", then the editions. windock downloads it through the
 * storage stage's real downloader, checks its SHA-1 and builds the ISO with wimlib and genisoimage;
 * the test reads the ISO back with xorriso (El Torito), wimlib (boot.wim) and windock's own reader
 * (install.esd). Debian packages: wimtools, genisoimage, xorriso, cabextract, gcab, dosfstools.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { CATALOG, type CatalogEntry, type MediaRoute } from '../../src/windows/catalog.js';
import { EsdCatalogClient } from '../../src/windows/esd-media.js';
import { defaultVersionMediaDeps, WINDOWS_DOWNLOAD } from '../../src/windows/version-media.js';
import { readIsoMetadata } from '../../src/windows/wim-metadata.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { startMicrosoftReplay } from '../fixtures/microsoft/replay-server.js';
import { scratchPerTest, versionMediaRun, type LogLine } from '../fixtures/version-media-harness.js';
import { imagePropertyArgs } from '../fixtures/windows-iso.js';

const ESD_NAME = '26100.4349.250607-1500.ge_release_svc_refresh_CLIENTCONSUMER_RET_x64FRE_en-us.esd';
const ISO_NAME = ESD_NAME.replace(/\.esd$/, '.iso');
const MIRROR_ISO = Buffer.alloc(64 * 1024, 0x5a);
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let fixtures: string;
let esd: Buffer;
const scratch = scratchPerTest('windock-esd-');
let files: TestHttpServer | undefined;

/** A catalog ESD: Setup's three images, then Home and Pro, solid LZMS. */
async function buildCatalogEsd(root: string): Promise<string> {
  const tree = async (name: string, content: Record<string, string>) => {
    const base = join(root, name);
    for (const [path, text] of Object.entries(content)) {
      await mkdir(join(base, path, '..'), { recursive: true });
      await writeFile(join(base, path), text);
    }
    return base;
  };
  const media = await tree('media', { 'setup.exe': 'MZ setup', 'boot/etfsboot.com': 'B'.repeat(2048), 'sources/lang.ini': '[Available UI Languages]\r\nen-us = 3\r\n', 'efi/microsoft/boot/efisys.bin': '' });
  // efisys.bin is a FAT floppy image on Microsoft's media: the UEFI El Torito entry boots from it.
  await rm(join(media, 'efi/microsoft/boot/efisys.bin'));
  await execa('mkfs.vfat', ['-C', join(media, 'efi/microsoft/boot/efisys.bin'), '1440']);
  const images: [string, string][] = [
    [media, 'Windows Setup Media'],
    [await tree('pe', { 'Windows/System32/winpeshl.ini': 'pe' }), 'Microsoft Windows PE (amd64)'],
    [await tree('setup', { 'sources/setup.exe': 'MZ setup in PE' }), 'Microsoft Windows Setup (amd64)'],
    [await tree('home', { 'Windows/System32/notepad.exe': 'MZ home' }), 'Windows 11 Home'],
    [await tree('pro', { 'Windows/System32/notepad.exe': 'MZ pro' }), 'Windows 11 Pro'],
  ];
  const wim = join(root, 'all.wim');
  for (const [i, [source, name]] of images.entries()) await execa('wimlib-imagex', [i === 0 ? 'capture' : 'append', source, wim, name, name]);
  await execa('wimlib-imagex', ['info', wim, '4', ...imagePropertyArgs({ name: 'Windows 11 Home', editionId: 'Core', installationType: 'Client', build: 26100 })]);
  await execa('wimlib-imagex', ['info', wim, '5', ...imagePropertyArgs({ name: 'Windows 11 Pro', editionId: 'Professional', installationType: 'Client', build: 26100 })]);
  const out = join(root, ESD_NAME);
  await execa('wimlib-imagex', ['export', wim, 'all', out, '--solid']);
  return out;
}

/** products.cab holding products.xml with one File per entry, made by gcab as Microsoft's is a cabinet. */
async function buildCab(root: string, entries: { lang: string; edition: string; sha1: string; size: number; url: string }[]): Promise<Buffer> {
  const fileXml = entries.map((e) => `<File id="${e.lang}"><FileName>${ESD_NAME.replace('en-us', e.lang)}</FileName><LanguageCode>${e.lang}</LanguageCode><Language>${e.lang}</Language><Edition>${e.edition}</Edition><Architecture>x64</Architecture><Size>${e.size}</Size><Sha1>${e.sha1}</Sha1><FilePath>${e.url}</FilePath></File>`).join('');
  const xml = `<?xml version="1.0" encoding="UTF-8"?><MCT><Catalogs><Catalog version="1.4"><PublishedMedia id="1"><Files>${fileXml}</Files></PublishedMedia></Catalog></Catalogs></MCT>`;
  const cabDir = await mkdtemp(join(root, 'cab-'));
  await writeFile(join(cabDir, 'products.xml'), xml);
  await execa('gcab', ['-c', 'products.cab', 'products.xml'], { cwd: cabDir });
  return readFile(join(cabDir, 'products.cab'));
}

beforeAll(async () => {
  fixtures = await mkdtemp(join(tmpdir(), 'windock-esd-fixture-'));
  esd = await readFile(await buildCatalogEsd(fixtures));
}, 120_000);
afterAll(async () => {
  await rm(fixtures, { recursive: true, force: true });
});

/** The catalog server: /fwlink → 302 → /cab/products.cab; /esd/* the ESD; /mirror/* the mirror's ISO. */
async function startFiles(catalog: (url: (p: string) => string) => Promise<Buffer>): Promise<TestHttpServer> {
  let cab: Buffer | undefined;
  const server = await startHttpServer(({ path }) => {
    if (path.startsWith('/fwlink')) return { kind: 'status', status: 302, headers: { location: '/cab/products.cab', 'content-length': '0' } };
    if (path === '/cab/products.cab') return { kind: 'serve', file: { body: cab! } };
    if (path.startsWith('/esd/')) return { kind: 'serve', file: { body: esd, etag: '"esd-1"' } };
    if (path.startsWith('/mirror/')) return { kind: 'serve', file: { body: MIRROR_ISO, etag: '"m-1"' } };
    return { kind: 'status', status: 404 };
  });
  cab = await catalog((p) => server.url(p));
  return scratch.closeLater(server);
}

const base = CATALOG.find((e) => e.key === '11')!;
const ESD_ROUTE: MediaRoute = { kind: 'esd', product: 'windows11', edition: 'Professional' };
const ESD_LABEL = 'Microsoft ESD catalog (windows11 Professional, en-US)';
const good = (url: (p: string) => string) => buildCab(fixtures, [{ lang: 'en-us', edition: 'Professional', sha1: sha1(esd), size: esd.length, url: url(`/esd/${ESD_NAME}`) }]);

/** Microsoft's live flow refuses (the replay's JSON refusal); the ESD catalog is the test's file server. */
async function setup(entry: CatalogEntry, env: Record<string, string> = {}, onLine?: (line: LogLine) => void) {
  const microsoft = scratch.closeLater(await startMicrosoftReplay('blocked-json'));
  const clients = { ...defaultVersionMediaDeps({ endpoints: microsoft.endpoints }).microsoft, esd: new EsdCatalogClient({ fwlink: files!.url('') }) };
  const { ctx, run } = versionMediaRun(scratch, entry, { LANGUAGE: 'English', ...env }, clients, onLine);
  return { run, state: ctx.state };
}

const logged = (msg: string) => scratch.lines.filter((l) => l.msg === msg);
const storageFiles = async () => (await readdir(join(scratch.dir, 'storage'))).filter((f) => f !== 'windock.json').sort();
const esdRequests = () => files!.requests.filter((r) => r.path.startsWith('/esd/')).map((r) => `${r.status} ${r.range ?? ''}`.trim());
const tail = () => scratch.lines.slice(-8).map((l) => `${l.msg} ${JSON.stringify(l)}`).join('\n');

describe('the ESD catalog route', () => {
  it('builds a bootable Setup ISO from the verified ESD when Microsoft refuses, records it, and removes the ESD and its work', async () => {
    files = await startFiles(good);
    const { run, state } = await setup({ ...base, routes: [{ kind: 'consumer', page: 'windows11' }, ESD_ROUTE] });
    const iso = join(scratch.dir, 'storage', ISO_NAME);
    expect(await run(), tail()).toEqual({ kind: 'path', path: iso });

    const won = logged('Windows media downloaded');
    expect(won.map((l) => [l['source'], l['verified']]), tail()).toEqual([[ESD_LABEL, "SHA-1 from Microsoft's ESD catalog"]]);
    expect(logged('ESD verified').map((l) => [l['sha1'], l['digest']])).toEqual([[sha1(esd), "SHA-1 from Microsoft's signed ESD catalog"]]);
    expect(await WINDOWS_DOWNLOAD.read(state)).toEqual({ version: '11', language: 'en-US', fileName: ISO_NAME, source: ESD_LABEL });
    // Only the ISO is left: the ESD, its part and the work directory are gone.
    expect(await storageFiles()).toEqual([ISO_NAME]);

    // El Torito: BIOS etfsboot.com without emulation, 8 sectors; UEFI efisys.bin.
    const report = (await execa('xorriso', ['-indev', iso, '-report_el_torito', 'plain'], { all: true })).all;
    const entries = report.split('\n').filter((l) => /^El Torito (boot img|img path)/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim());
    expect(entries, report).toEqual([
      expect.stringMatching(/^El Torito boot img : 1 BIOS y none 0x0000 0x00 8 \d+$/),
      expect.stringMatching(/^El Torito boot img : 2 UEFI y none 0x0000 0x00 \d+ \d+$/),
      'El Torito img path : 1 /boot/etfsboot.com',
      'El Torito img path : 2 /efi/microsoft/boot/efisys.bin',
    ]);

    // sources/boot.wim: Windows PE and Windows Setup, the second bootable.
    const bootWim = join(scratch.dir, 'boot.wim');
    await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/sources/boot.wim', bootWim]);
    const info = (await execa('wimlib-imagex', ['info', bootWim])).stdout;
    const field = (name: string) => [...info.matchAll(new RegExp(`^${name}:\\s+(.*)$`, 'gm'))].map((m) => m[1]!.trim());
    expect({ count: field('Image Count'), boot: field('Boot Index'), names: field('Name') }, info).toEqual({ count: ['2'], boot: ['2'], names: ['Microsoft Windows PE (amd64)', 'Microsoft Windows Setup (amd64)'] });

    // sources/install.esd read by windock's own ISO reader (UDF): the edition alone, still LZMS.
    const metadata = await readIsoMetadata(iso);
    expect(metadata.kind === 'windows' ? { file: metadata.file, images: metadata.images.map((i) => [i.index, i.name, i.editionId]) } : metadata).toEqual({ file: 'sources/install.esd', images: [[1, 'Windows 11 Pro', 'Professional']] });
    const installEsd = join(scratch.dir, 'install.esd');
    await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/sources/install.esd', installEsd]);
    expect((await execa('wimlib-imagex', ['info', installEsd])).stdout).toMatch(/^Compression:\s+LZMS$/m);

    // A restart whose record is lost finds the finished ISO: the catalog is read, the ESD not fetched again.
    await rm(join(scratch.dir, 'storage', 'windock.json'));
    const before = esdRequests();
    expect(await run()).toEqual({ kind: 'path', path: iso });
    expect(esdRequests()).toEqual(before);
    expect(logged('Windows media downloaded').at(-1)?.['verified']).toBe('built before from a verified ESD');
  });

  it('falls through to the mirror when the ESD does not hash to the catalog\'s SHA-1, and keeps none of it', async () => {
    files = await startFiles((url) => buildCab(fixtures, [{ lang: 'en-us', edition: 'Professional', sha1: 'ab'.repeat(20), size: esd.length, url: url(`/esd/${ESD_NAME}`) }]));
    const mirror: MediaRoute = { kind: 'mirror', culture: 'en-US', file: 'win11.iso', sha256: sha256(MIRROR_ISO) };
    const { run, state } = await setup({ ...base, routes: [{ kind: 'consumer', page: 'windows11' }, ESD_ROUTE, mirror] }, { MIRRORS: files.url('/mirror') });
    expect(await run(), tail()).toEqual({ kind: 'path', path: join(scratch.dir, 'storage', 'win11.iso') });
    expect(logged('download failed; trying the next source').map((l) => [l['source'], l['reason']]), tail()).toEqual([
      [ESD_LABEL, expect.stringMatching(new RegExp(`^the ESD .*${ESD_NAME} has SHA-1 ${sha1(esd)}, expected ${'ab'.repeat(20)} \\(Microsoft's catalog\\); it was deleted$`))],
    ]);
    expect(logged('Windows media downloaded').map((l) => l['source'])).toEqual([`mirror ${files.url('/mirror/win11.iso')}`]);
    expect((await WINDOWS_DOWNLOAD.read(state))?.source).toBe(`mirror ${files.url('/mirror/win11.iso')}`);
    expect(await storageFiles()).toEqual(['win11.iso']);
  });

  it('ends with exit 4 naming the ESD source and its reason when it was the last one', async () => {
    files = await startFiles((url) => buildCab(fixtures, [{ lang: 'en-us', edition: 'Professional', sha1: sha1(esd), size: esd.length + 1, url: url(`/esd/${ESD_NAME}`) }]));
    const { run } = await setup({ ...base, routes: [{ kind: 'consumer', page: 'windows11' }, ESD_ROUTE] });
    const error = await run().catch((e: unknown) => e);
    expect(error, tail()).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(4);
    expect((error as AppError).message).toContain(`${ESD_LABEL}: download failed, the ESD ${join(scratch.dir, 'storage', ESD_NAME)} is ${esd.length} bytes, expected ${esd.length + 1}`);
    expect(await storageFiles()).toEqual([]);
  });

  it('moves on from an ESD that lacks the edition, and does not keep it', async () => {
    files = await startFiles((url) => buildCab(fixtures, [{ lang: 'en-us', edition: 'Enterprise', sha1: sha1(esd), size: esd.length, url: url(`/esd/${ESD_NAME}`) }]));
    const enterprise = CATALOG.find((e) => e.key === '11e')!;
    const { run } = await setup({ ...enterprise, routes: [{ kind: 'esd', product: 'windows11', edition: 'Enterprise' }] });
    const error = await run().catch((e: unknown) => e);
    expect(error, tail()).toBeInstanceOf(AppError);
    expect((error as AppError).message).toContain(
      `Microsoft ESD catalog (windows11 Enterprise, en-US): download failed, the ESD ${join(scratch.dir, 'storage', ESD_NAME)} cannot be made into a Windows Setup ISO: no image is Enterprise (images: 4 Windows 11 Home, 5 Windows 11 Pro)`,
    );
    expect(logged('no ISO could be built from the ESD; the ESD is deleted')).toHaveLength(1);
    expect(await storageFiles()).toEqual([]);
  });

  it('falls back to the English ESD when the catalog has none in the language asked, and records the media\'s language', async () => {
    files = await startFiles(good);
    const { run, state } = await setup({ ...base, routes: [{ kind: 'consumer', page: 'windows11' }, ESD_ROUTE] }, { LANGUAGE: 'German' });
    expect(await run(), tail()).toEqual({ kind: 'path', path: join(scratch.dir, 'storage', ISO_NAME) });
    expect(logged('download link lookup failed; trying the next source').map((l) => [l['source'], l['reason']]), tail()).toEqual([
      ['Microsoft download flow (windows11, de-DE)', expect.stringContaining('715-123130')],
      ['Microsoft ESD catalog (windows11 Professional, de-DE)', "Microsoft's ESD catalog offers no German (de-DE) download of windows11 Professional: languages offered: en-us"],
    ]);
    expect(await WINDOWS_DOWNLOAD.read(state)).toEqual({ version: '11', language: 'de-DE', mediaLanguage: 'en-US', fileName: ISO_NAME, source: ESD_LABEL });
  });

  it('moves on when the catalog link answers something that is not a cabinet', async () => {
    files = await startFiles(async () => Buffer.from('<html>Sorry, this page is gone</html>'));
    const { run } = await setup({ ...base, routes: [ESD_ROUTE] });
    const error = await run().catch((e: unknown) => e);
    expect(error, tail()).toBeInstanceOf(AppError);
    expect((error as AppError).message, tail()).toMatch(new RegExp(`^every download source of Windows 11 Pro in English failed: ${ESD_LABEL.replace(/[()]/g, '\\$&')}: link lookup failed, Microsoft's ESD catalog http://127\\.0\\.0\\.1:\\d+/fwlink\\?linkid=2156292: it cannot be unpacked: cabextract `));
    expect(await storageFiles()).toEqual([]);
  });

  it('leaves no ISO when stopped mid-conversion, keeps the verified ESD, and builds from it on the next start without a download', async () => {
    files = await startFiles(good);
    // The stop request (windock's SIGTERM handler aborts this signal) arrives once the work
    // directory exists and the first wimlib step is about to run.
    const stop = new AbortController();
    const { run } = await setup({ ...base, routes: [{ kind: 'consumer', page: 'windows11' }, ESD_ROUTE] }, {}, (line) => {
      if (line.msg === 'building a Windows Setup ISO from the ESD') stop.abort(new Error('SIGTERM'));
    });
    const error = await run(stop.signal).catch((e: unknown) => e);
    expect(String(error), tail()).toBe('Error: SIGTERM');
    expect(await storageFiles(), tail()).toEqual([ESD_NAME]);
    expect(esdRequests()).toEqual(['200']);

    expect(await run(), tail()).toEqual({ kind: 'path', path: join(scratch.dir, 'storage', ISO_NAME) });
    expect(esdRequests(), 'the verified ESD is reused, not fetched again').toEqual(['200']);
    expect(logged('ESD verified')).toHaveLength(2);
    expect(await storageFiles()).toEqual([ISO_NAME]);
  });
});
