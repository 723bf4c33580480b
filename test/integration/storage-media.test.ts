/**
 * BOOT as a local disk image or ISO, through prepareStorage with real qemu-img, tar and xorriso:
 * overlays on a golden base that stays byte-identical, conversions, Vagrant boxes, full copies,
 * ISO installs and their boot order, and the refusals (missing/changed base, shrink, read-only
 * STORAGE, full STORAGE) that leave the existing disk byte-identical.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareStorage } from '../../src/storage/prepare.js';
import { HOST, makeContext } from '../unit/storage/context.js';
import { guestWrite, imageInfo, makeImage, makeTempDirs, readsPattern } from './storage-helpers.js';
import { sha256File } from '../fixtures/digest.js';
import { expectAppError } from '../fixtures/app-error.js';

const temp = makeTempDirs();
afterEach(() => {
  temp.cleanup();
});


describe('BOOT as a local disk image', () => {
  it('layers a qcow2 overlay on the base; guest writes land in the overlay, the base is byte-identical', async () => {
    const images = temp.make();
    const base = makeImage(images, 'golden.qcow2', 'qcow2');
    const before = sha256File(base);
    const storage = temp.make();
    const ctx = makeContext({ STORAGE: storage, BOOT: base, DISK_SIZE: '32M' });
    const prepared = await prepareStorage(ctx, HOST);

    const overlay = join(storage, 'data.qcow2');
    expect(prepared.systemDisk).toBe(overlay);
    expect(prepared.drives).toEqual([expect.objectContaining({ id: 'system', path: overlay, format: 'qcow2', readOnly: false, bootIndex: 1 })]);
    const info = imageInfo(overlay);
    expect(info['full-backing-filename']).toBe(base);
    expect(info['backing-filename-format']).toBe('qcow2');
    expect(info['virtual-size']).toBe(32 * 2 ** 20);
    // The image has an MBR and no record: legacy BIOS, recorded.
    expect(prepared.firmware).toEqual({ mode: 'legacy' });
    const state = JSON.parse(readFileSync(join(storage, 'windock.json'), 'utf8'));
    expect(state).toMatchObject({ bootMode: 'legacy', media: { source: base, kind: 'disk' }, base: { path: base } });

    expect(readsPattern(overlay, 'qcow2', 7 * 0 & 0xff, 0, 1)).toBe(true);
    guestWrite(overlay, 'qcow2', 0xab);
    expect(readsPattern(overlay, 'qcow2', 0xab)).toBe(true);
    expect(sha256File(base)).toBe(before);

    // A restart reuses the overlay (no second creation) and the base check passes.
    const again = await prepareStorage(makeContext({ STORAGE: storage, BOOT: base, DISK_SIZE: '32M' }), HOST);
    expect(again.systemDisk).toBe(overlay);
    expect(readsPattern(overlay, 'qcow2', 0xab)).toBe(true);
    expect(sha256File(base)).toBe(before);
  });

  it('gives two instances on one base their own overlays', async () => {
    const base = makeImage(temp.make(), 'golden.img', 'raw');
    const before = sha256File(base);
    const a = temp.make();
    const b = temp.make();
    await prepareStorage(makeContext({ STORAGE: a, BOOT: base }), HOST);
    await prepareStorage(makeContext({ STORAGE: b, BOOT: base }), HOST);
    guestWrite(join(a, 'data.qcow2'), 'qcow2', 0x0a);
    guestWrite(join(b, 'data.qcow2'), 'qcow2', 0x0b);
    expect(readsPattern(join(a, 'data.qcow2'), 'qcow2', 0x0a)).toBe(true);
    expect(readsPattern(join(b, 'data.qcow2'), 'qcow2', 0x0b)).toBe(true);
    expect(imageInfo(join(a, 'data.qcow2'))['backing-filename-format']).toBe('raw');
    expect(sha256File(base)).toBe(before);
  });

  it.each([
    ['disk.vmdk', 'vmdk'],
    ['disk.vhd', 'vpc'],
    ['disk.vhdx', 'vhdx'],
  ] as const)('converts %s once to a qcow2 base in STORAGE', async (name, format) => {
    const source = makeImage(temp.make(), name, format);
    const before = sha256File(source);
    const storage = temp.make();
    await prepareStorage(makeContext({ STORAGE: storage, BOOT: source }), HOST);
    const converted = join(storage, 'disk.base.qcow2');
    expect(imageInfo(join(storage, 'data.qcow2'))['full-backing-filename']).toBe(converted);
    execFileSync('qemu-img', ['compare', '-q', '-f', format, '-F', 'qcow2', source, converted]);
    expect(sha256File(source)).toBe(before);
    const convertedDigest = sha256File(converted);
    await prepareStorage(makeContext({ STORAGE: storage, BOOT: source }), HOST);
    expect(sha256File(converted)).toBe(convertedDigest);
  });

  it('unpacks box.img of a Vagrant box once and layers the overlay on it', async () => {
    const dir = temp.make();
    const boxDir = join(dir, 'box');
    mkdirSync(boxDir);
    makeImage(boxDir, 'box.img', 'qcow2');
    writeFileSync(join(boxDir, 'metadata.json'), JSON.stringify({ provider: 'libvirt', format: 'qcow2', virtual_size: 1 }));
    const box = join(dir, 'debian.box');
    // vagrant-libvirt's own packing: tar czf with ./ members.
    execFileSync('tar', ['-czf', box, '-C', boxDir, './metadata.json', './box.img']);
    const storage = temp.make();
    await prepareStorage(makeContext({ STORAGE: storage, BOOT: box }), HOST);
    const extracted = join(storage, 'debian.box.img');
    expect(sha256File(extracted)).toBe(sha256File(join(boxDir, 'box.img')));
    expect(imageInfo(join(storage, 'data.qcow2'))['full-backing-filename']).toBe(extracted);
    expect(JSON.parse(readFileSync(join(storage, 'windock.json'), 'utf8')).media.source).toBe(box);
    expect(execFileSync('ls', ['-A', storage], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual([
      'data.qcow2',
      'debian.box.img',
      'windock.json',
    ]);
  });

  it('makes an independent full copy with BOOT_COPY=Y', async () => {
    const base = makeImage(temp.make(), 'golden.qcow2', 'qcow2');
    const storage = temp.make();
    await prepareStorage(makeContext({ STORAGE: storage, BOOT: base, BOOT_COPY: 'Y', DISK_FMT: 'raw' }), HOST);
    const copy = join(storage, 'data.img');
    expect(imageInfo(copy)['backing-filename']).toBeUndefined();
    execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', base, copy]);
  });

  it('refuses a missing or changed base under an existing overlay, leaving the overlay byte-identical (exit 4)', async () => {
    const images = temp.make();
    const base = makeImage(images, 'golden.qcow2', 'qcow2');
    const storage = temp.make();
    await prepareStorage(makeContext({ STORAGE: storage, BOOT: base }), HOST);
    const overlay = join(storage, 'data.qcow2');
    guestWrite(overlay, 'qcow2', 0x5a);
    const overlayDigest = sha256File(overlay);

    renameSync(base, `${base}.moved`);
    const missing = await expectAppError(prepareStorage(makeContext({ STORAGE: storage, BOOT: base }), HOST));
    expect(missing.exitCode).toBe(4);
    expect(missing.message).toBe(`the base image ${base} of the overlay ${overlay} is missing`);
    expect(sha256File(overlay)).toBe(overlayDigest);

    renameSync(`${base}.moved`, base);
    utimesSync(base, new Date(), new Date(Date.now() + 5000));
    const changed = await expectAppError(prepareStorage(makeContext({ STORAGE: storage, BOOT: base }), HOST));
    expect(changed.exitCode).toBe(4);
    expect(changed.message).toMatch(/changed since the overlay was made/);
    expect(sha256File(overlay)).toBe(overlayDigest);
  });

  it('reports a BOOT path that does not exist (exit 4)', async () => {
    const error = await expectAppError(prepareStorage(makeContext({ STORAGE: temp.make(), BOOT: '/nonexistent/image.qcow2' }), HOST));
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe('BOOT /nonexistent/image.qcow2 does not exist');
  });
});

describe('BOOT as an ISO', () => {
  it('attaches the ISO read-only next to a new sparse disk; media first until the disk has booted', async () => {
    const dir = temp.make();
    mkdirSync(join(dir, 'iso'));
    writeFileSync(join(dir, 'iso', 'README.TXT'), 'install media');
    const iso = join(dir, 'install.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, join(dir, 'iso')], { stdio: 'ignore' });
    const isoDigest = sha256File(iso);
    const storage = temp.make();
    const prepared = await prepareStorage(makeContext({ STORAGE: storage, BOOT: iso, DISK_SIZE: '2G' }), HOST);
    const disk = join(storage, 'data.qcow2');
    expect(prepared.drives).toEqual([
      { id: 'install', path: iso, format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 1 },
      { id: 'system', path: disk, format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 2 },
    ]);
    expect(prepared.firmware.mode).toBe('uefi');
    const info = imageInfo(disk);
    expect(info['virtual-size']).toBe(2 * 2 ** 30);
    expect(Number(info['actual-size'])).toBeLessThan(2 ** 20);

    // A restart before the first boot from disk: the install goes on, media still first.
    const restarted = await prepareStorage(makeContext({ STORAGE: storage, BOOT: iso, DISK_SIZE: '2G' }), HOST);
    expect(restarted.drives.map((d) => [d.id, d.bootIndex])).toEqual([
      ['install', 1],
      ['system', 2],
    ]);
    await restarted.markBootedFromDisk();
    const after = await prepareStorage(makeContext({ STORAGE: storage, BOOT: iso, DISK_SIZE: '2G' }), HOST);
    expect(after.drives.map((d) => [d.id, d.bootIndex])).toEqual([
      ['install', 2],
      ['system', 1],
    ]);
    expect(sha256File(iso)).toBe(isoDigest);
  });

  it('creates a raw sparse disk with DISK_FMT=raw', async () => {
    const dir = temp.make();
    mkdirSync(join(dir, 'iso'));
    writeFileSync(join(dir, 'iso', 'README.TXT'), 'install media');
    const iso = join(dir, 'install.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, join(dir, 'iso')], { stdio: 'ignore' });
    const storage = temp.make();
    const prepared = await prepareStorage(makeContext({ STORAGE: storage, BOOT: iso, DISK_FMT: 'raw', DISK_SIZE: '1G' }), HOST);
    expect(prepared.systemDisk).toBe(join(storage, 'data.img'));
    expect(imageInfo(join(storage, 'data.img'))).toMatchObject({ format: 'raw', 'virtual-size': 2 ** 30 });
  });
});

describe('disk lifecycle', () => {
  it('grows a disk to a larger DISK_SIZE and refuses a smaller one with the disk byte-identical (exit 2)', async () => {
    const storage = temp.make();
    const disk = join(storage, 'data.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
    guestWrite(disk, 'qcow2', 0x11);
    await prepareStorage(makeContext({ STORAGE: storage, DISK_SIZE: '128M' }), HOST);
    expect(imageInfo(disk)['virtual-size']).toBe(128 * 2 ** 20);
    expect(readsPattern(disk, 'qcow2', 0x11)).toBe(true);

    const digest = sha256File(disk);
    const ctx = makeContext({ STORAGE: storage, DISK_SIZE: '100M' });
    const error = await expectAppError(prepareStorage(ctx, HOST));
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/DISK_SIZE must be at least the size of the existing disk .*data.qcow2 \(128M\), got 100M/);
    expect(sha256File(disk)).toBe(digest);
  });

  it('refuses a read-only STORAGE with a clear error, the disk byte-identical', async () => {
    const storage = temp.make();
    const disk = join(storage, 'data.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
    const digest = sha256File(disk);
    temp.mount('--bind', storage, storage);
    execFileSync('mount', ['-o', 'remount,ro,bind', storage]);
    const error = await expectAppError(prepareStorage(makeContext({ STORAGE: storage, DISK_SIZE: '128M' }), HOST));
    expect(error.message).toBe(`STORAGE ${storage} is read-only (EROFS)`);
    expect(error.hint).toMatch(/read-only/);
    expect(sha256File(disk)).toBe(digest);
  });

  it('warns on btrfs and creates the writable disk with copy-on-write off (+C)', async () => {
    const dir = temp.make();
    const fsImage = join(dir, 'btrfs.img');
    execFileSync('truncate', ['-s', '200M', fsImage]);
    execFileSync('mkfs.btrfs', ['-q', fsImage]);
    const storage = join(dir, 'storage');
    mkdirSync(storage);
    temp.mount('-o', 'loop', fsImage, storage);
    const base = makeImage(temp.make(), 'golden.qcow2', 'qcow2');
    const ctx = makeContext({ STORAGE: storage, BOOT: base });
    await prepareStorage(ctx, HOST);
    const attributes = execFileSync('lsattr', [join(storage, 'data.qcow2')], { encoding: 'utf8' }).split(' ')[0]!;
    expect(attributes).toContain('C');
    expect(ctx.lines.some((l) => l.level === 40 && String(l.msg).startsWith('STORAGE is on btrfs'))).toBe(true);
  });

  it('fails cleanly when STORAGE is full, leaving the existing files byte-identical', async () => {
    const storage = temp.makeTmpfs('2m');
    const images = temp.make();
    // A base whose conversion needs more than 2 MiB of STORAGE.
    const source = join(images, 'disk.vhd');
    const raw = join(images, 'random.raw');
    writeFileSync(raw, Buffer.from(Array.from({ length: 4 * 2 ** 20 }, (_, i) => (i * 2654435761) % 251)));
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vpc', raw, source]);
    writeFileSync(join(storage, 'windock.json'), JSON.stringify({ schema: 1, mac: '02:00:00:00:00:01' }));
    const error = await expectAppError(prepareStorage(makeContext({ STORAGE: storage, BOOT: source }), HOST));
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/cannot convert .*disk.vhd to qcow2: .*No space left on device/);
    expect(existsSync(join(storage, 'disk.base.qcow2'))).toBe(false);
    expect(existsSync(join(storage, 'disk.base.qcow2.part'))).toBe(false);
    expect(existsSync(join(storage, 'data.qcow2'))).toBe(false);
    // windock.json is intact (atomic writes): the MAC survives the failed run.
    expect(JSON.parse(readFileSync(join(storage, 'windock.json'), 'utf8')).mac).toBe('02:00:00:00:00:01');
  });
});
