/**
 * Hostile BOOT images: real files made by qemu-img (a backing file, an external data file) and
 * hand-written VMDK descriptors, refused with exit 2 naming the image and the reason — through the
 * real binary (nothing in STORAGE is made) and through the storage stage — unless BOOT_TRUST=Y.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { prepareStorage } from '../../src/storage/prepare.js';
import { freePort, killRuns, startWindock, tail, vmEnv, type WindockRun } from '../fixtures/windock.js';
import { HOST, makeContext } from '../unit/storage/context.js';
import { makeTempDirs } from './storage-helpers.js';

const temp = makeTempDirs();
const runs: WindockRun[] = [];
afterEach(async () => {
  await killRuns(runs);
  temp.cleanup();
});

/** A monolithicFlat descriptor (VMDK 1.1 §"Extent Descriptions") whose one extent is `extent`. */
function descriptor(extent: string, sectors: number): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=fffffffe',
    'parentCID=ffffffff',
    'createType="monolithicFlat"',
    '',
    '# Extent description',
    `RW ${sectors} FLAT "${extent}" 0`,
    '',
    'ddb.virtualHWVersion = "4"',
    '',
  ].join('\n');
}

type Maker = (dir: string) => { image: string; reason: RegExp };
const HOSTILE: [string, Maker][] = [
  [
    'a qcow2 whose backing file is /etc/hostname',
    (dir) => {
      const image = join(dir, 'backed.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', image, '1M']);
      return { image, reason: /its backing file is "\/etc\/hostname"/ };
    },
  ],
  [
    'a qcow2 with an external data file',
    (dir) => {
      const image = join(dir, 'datafile.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'outside.raw')}`, image, '1M']);
      return { image, reason: new RegExp(`its external data file is "${join(dir, 'outside.raw')}"`) };
    },
  ],
  [
    'a VMDK descriptor whose extent is /etc/hostname',
    (dir) => {
      const image = join(dir, 'evil.vmdk');
      writeFileSync(image, descriptor('/etc/hostname', 1));
      return { image, reason: new RegExp(`its extent "/etc/hostname" lies outside the image's folder ${dir}`) };
    },
  ],
  [
    'a binary sparse VMDK whose embedded descriptor (capacity 0) has the extent /etc/hostname',
    (dir) => {
      // vmdk.c vmdk_open_vmdk4: a header of capacity 0 makes QEMU open the embedded descriptor's extents.
      const image = join(dir, 'embedded.vmdk');
      execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', image, '1M']);
      const bytes = readFileSync(image);
      const offset = Number(bytes.readBigUInt64LE(28)) * 512;
      const length = Number(bytes.readBigUInt64LE(36)) * 512;
      const text = bytes.subarray(offset, offset + length).toString('latin1').split('\0')[0]!;
      const evil = text.replace('monolithicSparse', 'monolithicFlat').replace(/RW (\d+) SPARSE "[^"]*"/, 'RW $1 FLAT "/etc/hostname" 0');
      expect(evil).toContain('"/etc/hostname"');
      bytes.writeBigUInt64LE(0n, 12);
      bytes.fill(0, offset, offset + length);
      bytes.write(evil, offset, 'latin1');
      writeFileSync(image, bytes);
      return { image, reason: new RegExp(`its extent "/etc/hostname" lies outside the image's folder ${dir}`) };
    },
  ],
  [
    'a VMDK descriptor whose extent is a FIFO beside it (qemu-img info would block on it)',
    (dir) => {
      const image = join(dir, 'fifo.vmdk');
      execFileSync('mkfifo', [join(dir, 'fifo-flat.vmdk')]);
      writeFileSync(image, descriptor('fifo-flat.vmdk', 16));
      return { image, reason: /its extent "fifo-flat.vmdk" is not a regular file/ };
    },
  ],
  [
    'a VMDK descriptor whose extent names a protocol (file:/etc/hostname)',
    (dir) => {
      const image = join(dir, 'protocol.vmdk');
      writeFileSync(image, descriptor('file:/etc/hostname', 1));
      return { image, reason: /is a QEMU protocol or json: name, not a file/ };
    },
  ],
];

function bootDir(): string {
  const dir = join(temp.make('windock-boot-'), 'images');
  mkdirSync(dir);
  return dir;
}

describe('a BOOT image that names other files', () => {
  it.each(HOSTILE)('%s: the real binary exits 2 naming it and why, STORAGE holds no disk', async (_what, make) => {
    const { image, reason } = make(bootDir());
    const storage = temp.make();
    const run = startWindock({ env: vmEnv(storage, join(temp.make(), 'run'), await freePort(), { BOOT: image }) });
    runs.push(run);
    const { code } = await run.exited;
    expect(code, tail(run.lines)).toBe(2);
    const error = run.lines.find((l) => l.level === 50);
    expect(error?.msg, tail(run.lines)).toMatch(new RegExp(`^BOOT ${image} is not a self-contained image: `));
    expect(error?.msg).toMatch(reason);
    expect(String(error?.['hint'])).toContain('BOOT_TRUST=Y');
    expect(readdirSync(storage).filter((n) => n !== 'windock.json')).toEqual([]);
  });

  it.each(HOSTILE.slice(0, 3))('%s: with BOOT_TRUST=Y the storage stage layers the overlay on it', async (_what, make) => {
    const { image } = make(bootDir());
    const storage = temp.make();
    const refused = await prepareStorage(makeContext({ STORAGE: storage, BOOT: image }), HOST).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).exitCode).toBe(2);
    const prepared = await prepareStorage(makeContext({ STORAGE: storage, BOOT: image, BOOT_TRUST: 'Y' }), HOST);
    expect(prepared.systemDisk).toBe(join(storage, 'data.qcow2'));
    expect(existsSync(prepared.systemDisk)).toBe(true);
  });
});

describe('self-contained BOOT images are used as before', () => {
  it('a VMDK descriptor whose extent is a sibling file', async () => {
    const dir = bootDir();
    const image = join(dir, 'pair.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', image, '1M']);
    expect(readdirSync(dir).sort()).toEqual(['pair-flat.vmdk', 'pair.vmdk']);
    const storage = temp.make();
    const ctx = makeContext({ STORAGE: storage, BOOT: image });
    const prepared = await prepareStorage(ctx, HOST);
    expect(prepared.systemDisk).toBe(join(storage, 'data.qcow2'));
    expect(existsSync(join(storage, 'pair.base.qcow2')), JSON.stringify(ctx.lines.slice(-5))).toBe(true);
  });

  it('the same pair copied into STORAGE is refused: its neighbours there are windock files', async () => {
    const storage = temp.make();
    const image = join(storage, 'pair.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', image, '1M']);
    const refused = await prepareStorage(makeContext({ STORAGE: storage, BOOT: image }), HOST).catch((e: unknown) => e);
    expect((refused as AppError).message).toMatch(/its extent "pair-flat.vmdk" is another file in STORAGE/);
  });
});
