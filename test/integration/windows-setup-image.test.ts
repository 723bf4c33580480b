/**
 * The FAT setup image built with the real dosfstools/mtools and read back with mtools
 * (`mdir`, `mtype`): answer file, marker, OEM folder, and drivers only for the right Windows.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveVersion } from '../../src/windows/catalog.js';
import { buildSetupImage, SETUP_MARKER, windowsDevices } from '../../src/windows/setup-image.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-setup-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = { MTOOLS_SKIP_CHECK: '1' };
const mtype = async (image: string, file: string) => (await execa('mtype', ['-i', image, file], { env })).stdout;
/** `mdir -/ -b`: every path in the image, recursively, one per line. */
const listing = async (image: string) => (await execa('mdir', ['-i', image, '-/', '-b', '::/'], { env })).stdout.split('\n').filter(Boolean).sort();

async function makeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

describe('setup image', () => {
  it('holds Autounattend.xml, the marker, the OEM folder and the virtio drivers of this Windows only', async () => {
    const oem = join(dir, 'oem');
    const drivers = join(dir, 'virtio-win');
    await makeTree(oem, { 'install.bat': '@echo off\r\necho hello\r\n', 'tools/setup.ps1': 'Write-Host hi\r\n' });
    await makeTree(drivers, {
      'vioscsi/w11/amd64/vioscsi.inf': '[Version]\r\nvioscsi w11',
      'vioscsi/w11/amd64/vioscsi.sys': 'binary',
      'NetKVM/w11/amd64/netkvm.inf': '[Version]\r\nnetkvm w11',
      'vioscsi/w10/amd64/vioscsi.inf': 'w10 must not be copied',
      'vioscsi/w11/ARM64/vioscsi.inf': 'arm64 must not be copied',
      'Balloon/2k22/amd64/balloon.inf': 'server only',
    });
    const answer = '<?xml version="1.0" encoding="utf-8"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend"/>\n';
    const image = join(dir, 'setup.img');
    const built = await buildSetupImage({ path: image, answerFile: answer, oemDir: oem, driverDir: drivers, virtioOs: 'w11' });

    expect(built.drivers).toEqual(['NetKVM', 'vioscsi']);
    expect(built.oem).toBe(true);
    expect(built.drive).toMatchObject({ id: 'setup', path: image, format: 'raw', media: 'removable', readOnly: true, bootIndex: undefined });
    expect(await mtype(image, '::/Autounattend.xml')).toBe(answer.trimEnd());
    expect(await mtype(image, `::/${SETUP_MARKER}`)).toContain('windock');
    expect(await mtype(image, '::/OEM/install.bat')).toContain('echo hello');
    expect(await mtype(image, '::/OEM/tools/setup.ps1')).toContain('Write-Host');
    expect(await mtype(image, '::/$WinPEDriver$/vioscsi/vioscsi.inf')).toContain('vioscsi w11');
    const paths = (await listing(image)).map((p) => p.toLowerCase());
    expect(paths.some((p) => p.endsWith('/$winpedriver$/netkvm/netkvm.inf'))).toBe(true);
    expect(paths.some((p) => p.includes('balloon'))).toBe(false);
    expect(paths.some((p) => p.includes('arm64') || p.includes('w10'))).toBe(false);
    // The volume label Windows shows, and a real FAT file system (fsck finds nothing to fix).
    expect((await execa('mlabel', ['-i', image, '-s', '::'], { env })).stdout).toContain('WINDOCK');
    const fsck = await execa('fsck.fat', ['-n', image], { reject: false });
    expect(fsck.exitCode).toBe(0);
  });

  it('is a clean path without drivers and without OEM folder: then Windows gets SATA and e1000e', async () => {
    const image = join(dir, 'setup.img');
    const built = await buildSetupImage({ path: image, answerFile: '<unattend/>', oemDir: join(dir, 'no-oem'), driverDir: undefined, virtioOs: 'w11' });
    expect(built.drivers).toEqual([]);
    expect(built.oem).toBe(false);
    expect((await listing(image)).map((p) => p.replace(/^.*\//, ''))).toEqual(['Autounattend.xml', SETUP_MARKER].sort());
    const resolved = resolveVersion('11');
    if (resolved.kind !== 'catalog') throw new Error('11');
    expect(windowsDevices(resolved.entry, false)).toMatchObject({ disk: 'sata', nic: 'e1000e' });
    expect(windowsDevices(resolved.entry, true)).toMatchObject({ disk: 'scsi', nic: 'virtio-net-pci' });
  });

  it('replaces an older image atomically and leaves no temporary files', async () => {
    const image = join(dir, 'setup.img');
    await buildSetupImage({ path: image, answerFile: '<first/>', oemDir: undefined, driverDir: undefined, virtioOs: undefined });
    await buildSetupImage({ path: image, answerFile: '<second/>', oemDir: undefined, driverDir: undefined, virtioOs: undefined });
    expect(await mtype(image, '::/Autounattend.xml')).toBe('<second/>');
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual(['setup.img']);
    expect((await stat(image)).size).toBeGreaterThan(0);
  });
});
