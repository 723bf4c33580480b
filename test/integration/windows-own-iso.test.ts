/**
 * Your own ISO, with real media made in the test: install.wim/esd by wimlib (names, editions,
 * languages per case) in ISOs made by xorriso (ISO 9660 + Joliet, plain ISO 9660) and genisoimage
 * (UDF bridge). windock reads the metadata without extracting anything, chooses the catalog entry,
 * the image index and the language, and writes them into the answer file on the setup image; an
 * ISO that is not Windows Setup media boots for a manual install with the boot keys armed; a
 * truncated or hostile ISO is an AppError naming it, and the run falls back to VERSION's entry.
 */
import { mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { AppError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import type { DriveSpec } from '../../src/qemu/vm-spec.js';
import { StateFile } from '../../src/state/state-file.js';
import { StatusStore } from '../../src/supervisor/status.js';
import type { RunContext } from '../../src/supervisor/context.js';
import { readMediaDecision } from '../../src/windows/iso-choice.js';
import { FileByteSource, findIso9660File, SECTOR } from '../../src/windows/iso-reader.js';
import { findUserMedia } from '../../src/windows/user-media.js';
import { readIsoMetadata } from '../../src/windows/wim-metadata.js';
import { createWindowsProfile } from '../../src/windows/windows-profile.js';
import { prepareWindowsInstall } from '../../src/windows/windows-stage.js';
import type { OwnMedia } from '../../src/windows/own-media.js';
import type { WimImage } from '../../src/windows/wim-metadata.js';
import { buildIso, buildWim, SERVER_2022, WINDOWS_11_MULTI } from '../fixtures/windows-iso.js';

let dir: string;
const isos: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-own-iso-'));
  const setup = { 'setup.exe': 'MZ', 'sources/boot.wim': 'not read', 'efi/boot/bootx64.efi': 'MZ' };
  const w11 = await buildWim(await sub('w11'), WINDOWS_11_MULTI);
  isos.win11Udf = await buildIso(dir, 'win11-udf', { format: 'udf', files: { ...setup, 'sources/install.wim': { from: w11 } } });
  isos.win11Joliet = await buildIso(dir, 'win11-joliet', { format: 'joliet', files: { ...setup, 'sources/install.wim': { from: w11 } } });
  const server = await buildWim(await sub('server'), SERVER_2022);
  isos.server = await buildIso(dir, 'server2022', { format: 'joliet', files: { ...setup, 'sources/install.wim': { from: server } } });
  const german = await buildWim(await sub('de'), [
    { name: 'Windows 10 Pro', editionId: 'Professional', installationType: 'Client', build: 19045, languages: ['de-DE'] },
    { name: 'Windows 10 Home', editionId: 'Core', installationType: 'Client', build: 19045, languages: ['de-DE'] },
  ], 'install.esd');
  isos.german = await buildIso(dir, 'win10-de', { format: 'udf', files: { ...setup, 'sources/install.esd': { from: german } } });
  isos.plain = await buildIso(dir, 'win11-plain', { format: 'plain', files: { 'SOURCES/INSTALL.WIM': { from: w11 } } });
  isos.linux = await buildIso(dir, 'linux', { format: 'joliet', files: { 'boot/vmlinuz': 'kernel', 'README.txt': 'not Windows' } });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sub(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  return path;
}

const configOf = (env: Record<string, string>) => resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), RAM_SIZE: '4G', ...env });

describe('reading install.wim metadata from an ISO', () => {
  it.each(['win11Udf', 'win11Joliet', 'plain'])('%s: every image with its index, name, edition, type, language, architecture and build', async (which) => {
    const metadata = await readIsoMetadata(isos[which]!);
    expect(metadata.kind).toBe('windows');
    if (metadata.kind !== 'windows') return;
    expect(metadata.images.map((i) => [i.index, i.name, i.editionId, i.installationType, i.defaultLanguage, i.arch, i.version?.build])).toEqual([
      [1, 'Windows 11 Home', 'Core', 'Client', 'en-US', 'amd64', 22631],
      [2, 'Windows 11 Education', 'Education', 'Client', 'en-US', 'amd64', 22631],
      [3, 'Windows 11 Pro', 'Professional', 'Client', 'en-US', 'amd64', 22631],
      [4, 'Windows 11 Pro for Workstations', 'ProfessionalWorkstation', 'Client', 'en-US', 'amd64', 22631],
    ]);
  });

  it('a UDF bridge disc whose ISO 9660 and Joliet sides hide install.wim (as Microsoft\'s show only a README): found through UDF', async () => {
    // genisoimage's -hide hides a file from UDF too, so the ISO 9660 and Joliet names are renamed in place instead:
    // the primary record's "INSTALL.WIM;1" and the Joliet record's UCS-2 name (after its length byte, 22).
    const hidden = join(dir, 'udf-only.iso');
    const bytes = await readFile(isos.win11Udf!);
    const rename = (from: Buffer, to: Buffer, before?: number) => {
      for (let at = bytes.indexOf(from); at >= 0; at = bytes.indexOf(from, at + 1)) if (before === undefined || bytes[at - 1] === before) to.copy(bytes, at);
    };
    rename(Buffer.from('INSTALL.WIM;1', 'latin1'), Buffer.from('XNSTALL.WIM;1', 'latin1'));
    rename(Buffer.from('install.wim', 'utf16le').swap16(), Buffer.from('xnstall.wim', 'utf16le').swap16(), 22);
    await writeFile(hidden, bytes);
    const source = await FileByteSource.open(hidden);
    const iso9660 = await findIso9660File(source, 'sources/install.wim');
    await source.close();
    expect(iso9660).toBeUndefined();
    expect(await readIsoMetadata(hidden)).toMatchObject({ kind: 'windows', images: [{ index: 1 }, { index: 2 }, { index: 3, name: 'Windows 11 Pro' }, { index: 4 }] });
  });

  it('install.esd (a solid LZMS archive) in a UDF ISO: its uncompressed XML is read', async () => {
    const german = await readIsoMetadata(isos.german!);
    expect(german).toMatchObject({ kind: 'windows', file: 'sources/install.esd', images: [{ index: 1, name: 'Windows 10 Pro', languages: ['de-DE'], defaultLanguage: 'de-DE' }, { index: 2 }] });
  });

  it('an ISO without sources/install.wim is not Windows Setup media', async () => {
    expect(await readIsoMetadata(isos.linux!)).toEqual({ kind: 'not-windows' });
  });

  it('a truncated ISO is an AppError naming the file, never a crash', async () => {
    const cut = join(dir, 'truncated.iso');
    await execa('cp', [isos.win11Joliet!, cut]);
    const source = await FileByteSource.open(cut);
    const wim = await findIso9660File(source, 'sources/install.wim');
    await source.close();
    // The WIM header stays, its XML (at the WIM's end) is cut away.
    await truncate(cut, wim!.extents[0]!.offset + 512);
    const error = await readIsoMetadata(cut).catch((e: unknown) => e);
    expect(error, String(error)).toBeInstanceOf(AppError);
    expect((error as AppError).message).toContain(cut);
    expect((error as AppError).code).toBe('media');
  });

  it('a hostile directory length or WIM XML size is refused before any large read', async () => {
    const hostile = join(dir, 'hostile-dir.iso');
    await execa('cp', [isos.linux!, hostile]);
    // The Joliet root directory record's data length (sector 17, offset 156 + 10) → 4 GiB - 1.
    await patch(hostile, 17 * SECTOR + 156 + 10, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await patch(hostile, 16 * SECTOR + 156 + 10, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await expect(readIsoMetadata(hostile)).rejects.toThrow(/hostile-dir\.iso.*(larger than any Windows ISO|past the image|ends at)/);

    const wimDir = await sub('hostile-wim');
    const wim = await buildWim(wimDir, WINDOWS_11_MULTI.slice(0, 1));
    // The XML resource header's size (offset 0x48, 7 bytes) → 2^48 bytes.
    await patch(wim, 0x48, Buffer.from([0, 0, 0, 0, 0, 0, 1]));
    const iso = await buildIso(dir, 'hostile-wim', { format: 'joliet', files: { 'sources/install.wim': { from: wim } } });
    await expect(readIsoMetadata(iso)).rejects.toThrow(/install\.wim is not a WIM file windock can read: an XML data size of \d+ bytes/);
  });
});

async function patch(file: string, offset: number, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'r+');
  await handle.write(bytes, 0, bytes.length, offset);
  await handle.close();
}

describe('choosing from the metadata', () => {
  it('Windows 11 multi-edition: Pro (VERSION=11\'s edition) by index, EDITION picks another, the key follows the edition', async () => {
    expect(await readMediaDecision(isos.win11Udf!, configOf({}))).toMatchObject({ kind: 'chosen', choice: { entry: { key: '11' }, selector: { by: 'index', value: 3 }, editionName: 'Pro', culture: 'en-US' } });
    expect(await readMediaDecision(isos.win11Udf!, configOf({ EDITION: 'Education' }))).toMatchObject({ kind: 'chosen', choice: { selector: { value: 2 }, editionName: 'Education' } });
    expect(await readMediaDecision(isos.win11Udf!, configOf({ EDITION: 'Pro for Workstations' }))).toMatchObject({ kind: 'chosen', choice: { selector: { value: 4 } } });
    // VERSION=10 with an 11 ISO: the ISO says what it is.
    const asTen = await readMediaDecision(isos.win11Udf!, configOf({ VERSION: '10' }));
    expect(asTen).toMatchObject({ kind: 'chosen', choice: { entry: { key: '11' } } });
    expect(asTen.kind === 'chosen' && asTen.notes.join(' ')).toContain('not VERSION=10');
  });

  it('Server 2022 as BOOT: the Standard Desktop Experience image; "Datacenter Core" picks its image', async () => {
    const iso = isos.server!;
    expect(await readMediaDecision(iso, configOf({ BOOT: iso }))).toMatchObject({ kind: 'chosen', choice: { entry: { key: '2022', family: 'server' }, selector: { value: 2 }, image: { name: 'Windows Server 2022 SERVERSTANDARD' } } });
    expect(await readMediaDecision(iso, configOf({ BOOT: iso, EDITION: 'Datacenter Core' }))).toMatchObject({ kind: 'chosen', choice: { selector: { value: 3 } } });
  });

  it('a truncated ISO falls back to VERSION\'s entry with a warning naming it; with BOOT, to a manual install', async () => {
    const cut = join(dir, 'truncated.iso');
    const fallback = await readMediaDecision(cut, configOf({ VERSION: '2022' }));
    expect(fallback).toMatchObject({ kind: 'fallback', entry: { key: '2022' } });
    expect(fallback.kind === 'fallback' && fallback.warning).toContain(cut);
    expect(await readMediaDecision(cut, configOf({ BOOT: cut }))).toMatchObject({ kind: 'fallback', entry: undefined });
  });
});

describe('the install with your own ISO', () => {
  async function install(env: Record<string, string>, iso: string, media?: OwnMedia) {
    const root = await mkdtemp(join(dir, 'run-'));
    const config = resolveConfig({ STORAGE: join(root, 'storage'), RUN_DIR: join(root, 'run'), RAM_SIZE: '4G', ...env });
    await mkdir(config.storage, { recursive: true });
    await mkdir(config.runDir, { recursive: true });
    const disk = join(config.storage, 'data.qcow2');
    await execa('qemu-img', ['create', '-f', 'qcow2', disk, '1G']);
    const lines: { msg: string; level: number }[] = [];
    const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c)) as { msg: string; level: number }), done()) }) });
    const ctx: RunContext = { config, log, status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal };
    const drives: DriveSpec[] = [
      { id: 'system', path: disk, format: 'qcow2', media: 'disk', bus: 'sata', readOnly: false, bootIndex: 1 },
      { id: 'install', path: iso, format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 0 },
    ];
    const firmware = { mode: 'uefi' as const, code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: join(root, 'vars.fd') };
    const win = await prepareWindowsInstall(ctx, { drives, firmware, systemDisk: disk }, { oemDir: join(root, 'no-oem'), driverDir: undefined, media });
    const xml = win.setup ? (await execa('mtype', ['-i', win.setup.drive.path, '::/Autounattend.xml'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout : undefined;
    return { win, xml, lines };
  }

  const imageIndex = (xml: string | undefined) => /<Key>\/IMAGE\/INDEX<\/Key>\s*<Value>(\d+)<\/Value>/.exec(xml ?? '')?.[1];

  it('VERSION=<URL of an ISO> after its download: Windows 11 Pro by index, its generic key, en-US', async () => {
    const { win, xml, lines } = await install({ VERSION: 'https://example.test/win11.iso' }, isos.win11Joliet!);
    expect(win.plan.pressBootKeys).toBe(true);
    expect(imageIndex(xml), xml).toBe('3');
    expect(xml).toContain('VK7JG-NPHTM-C97JM-9MPGT-3V66T');
    expect(xml).toContain('<UILanguage>en-US</UILanguage>');
    expect(lines.map((l) => l.msg), JSON.stringify(lines)).toContain('your own ISO: Windows read from its install image');
  });

  it('the ISO the profile read is not read again: the stage decides from the metadata it was given', async () => {
    // Metadata no file on disk has (image 7): the answer file can only have it from what was passed.
    const given: WimImage = { index: 7, name: 'Windows 11 Pro', description: undefined, flags: 'Professional', editionId: 'Professional', installationType: 'Client', languages: ['en-GB'], defaultLanguage: 'en-GB', arch: 'amd64', version: { major: 10, minor: 0, build: 22631 } };
    const media: OwnMedia = { where: 'local', path: isos.win11Joliet!, metadata: { kind: 'windows', file: 'sources/install.wim', images: [given] } };
    const { xml } = await install({ BOOT: isos.win11Joliet! }, isos.win11Joliet!, media);
    expect(imageIndex(xml), xml).toBe('7');
    expect(xml).toContain('<UILanguage>en-GB</UILanguage>');
    // Another ISO attached than the one read: it is read.
    expect(imageIndex((await install({ BOOT: isos.win11Udf! }, isos.win11Udf!, media)).xml)).toBe('3');
  });

  it('an ISO read at its URL before the download that holds another Windows after it: a warning naming both', async () => {
    const server: WimImage = { index: 1, name: 'Windows Server 2022 SERVERSTANDARD', description: undefined, flags: 'ServerStandard', editionId: 'ServerStandard', installationType: 'Server', languages: ['en-US'], defaultLanguage: 'en-US', arch: 'amd64', version: { major: 10, minor: 0, build: 20348 } };
    const media: OwnMedia = { where: 'remote', url: 'https://example.test/win.iso', metadata: { kind: 'windows', file: 'sources/install.wim', images: [server] }, requests: [] };
    const { xml, lines } = await install({ VERSION: 'https://example.test/win.iso' }, isos.win11Joliet!, media);
    expect(imageIndex(xml), xml).toBe('3');
    expect(lines.find((l) => l.level === 40 && l.msg.startsWith('the downloaded ISO holds another Windows')), JSON.stringify(lines)).toMatchObject({ before: '2022', now: '11' });
  });

  it('BOOT=server.iso: Server 2022 Standard (index 2), no client key, the server answer file', async () => {
    const { xml } = await install({ BOOT: isos.server! }, isos.server!);
    expect(imageIndex(xml), xml).toBe('2');
    expect(xml).not.toContain('VK7JG');
  });

  it('a German ISO at /custom.iso (dockur\'s name): found, and Setup runs in de-DE with German formats', async () => {
    const root = await sub('custom-root');
    const custom = join(root, 'custom.iso');
    await execa('cp', [isos.german!, custom]);
    const found = await findUserMedia({ bootIso: join(root, 'boot.iso'), alsoUsed: [custom], storageDir: join(root, 'storage'), rootDir: root, knownOtherPaths: [], ownFiles: [] });
    expect(found).toMatchObject({ kind: 'found', path: custom });
    const { xml, lines } = await install({ VERSION: '10' }, custom);
    expect(imageIndex(xml), xml).toBe('1');
    expect(xml).toContain('<UILanguage>de-DE</UILanguage>');
    expect(xml).toContain('<SystemLocale>de-DE</SystemLocale>');
    expect(lines.some((l) => l.msg.includes('the ISO\'s language is de-DE')), JSON.stringify(lines)).toBe(true);
  });

  it('an ISO that is not Windows: a manual install, no answer file, the boot keys armed, and the log says so', async () => {
    const { win, lines } = await install({ BOOT: isos.linux! }, isos.linux!);
    expect({ setup: win.setup, drives: win.drives.map((d) => d.id), keys: win.plan.pressBootKeys }).toEqual({ setup: undefined, drives: ['system', 'install'], keys: true });
    expect(lines.find((l) => l.level === 40 && l.msg.includes('not Windows Setup media')), JSON.stringify(lines)).toBeDefined();
    expect(win.watcher.feed('BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM QM00001 " from x\r\n')).toMatchObject([{ action: 'press' }]);
  });

  it('a truncated ISO with VERSION=2022: the warning names it, and VERSION\'s image name is used', async () => {
    const cut = join(dir, 'truncated.iso');
    expect((await stat(cut)).size).toBeGreaterThan(0);
    const { xml, lines } = await install({ VERSION: '2022' }, cut);
    expect(xml).toContain('<Value>Windows Server 2022 SERVERSTANDARD</Value>');
    expect(lines.find((l) => l.level === 40 && l.msg.includes(cut)), JSON.stringify(lines)).toBeDefined();
  });
});

describe('the defaults your own ISO gives before the disk is made', () => {
  const silent = createLogger({ level: 'info', pretty: false, destination: new Writable({ write: (_c, _e, done) => done() }) });
  const settled = async (env: Record<string, string>) => {
    const config = configOf(env);
    const profile = await createWindowsProfile(config, silent);
    return profile.settle(config, { schema: 1 }, silent);
  };

  it('BOOT=<local Windows 11 ISO>: secure boot (a TPM), like VERSION=11; BOOT=<Server 2022 ISO>: UEFI', async () => {
    expect((await settled({ BOOT: isos.win11Udf! })).bootMode).toBe('secure');
    expect((await settled({ BOOT: isos.server! })).bootMode).toBe('uefi');
  });

  it('BOOT=<local ISO that is not Windows>: nothing is set for it; VERSION=<URL>: UEFI and a disk Setup sees without drivers', async () => {
    const linux = await settled({ BOOT: isos.linux! });
    expect([linux.bootMode, linux.diskType]).toEqual([undefined, undefined]);
    expect(await settled({ VERSION: 'https://example.test/win.iso' })).toMatchObject({ bootMode: 'uefi', diskType: 'sata' });
  });
});

// Kept last: writes a file the other cases do not use.
describe('reader bounds', () => {
  it('a file that is no ISO at all (zeros) is unreadable, not "not Windows"', async () => {
    const zeros = join(dir, 'zeros.iso');
    await writeFile(zeros, Buffer.alloc(1024 * 1024));
    await expect(readIsoMetadata(zeros)).rejects.toThrow(/zeros\.iso cannot be read as an ISO image: it has no ISO 9660 volume descriptor/);
  });
});
