import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { planStorage, type ObservedMedia, type PlanConfig, type StorageObservation } from '../../../src/storage/storage-plan.js';

const G = 2 ** 30;
const config: PlanConfig = { diskSize: 64 * G, diskFmt: 'qcow2', diskType: 'scsi', bootCopy: false, bootMode: undefined };
const identity = { size: 1000, mtimeMs: 1_700_000_000_000 };

function observed(patch: Partial<StorageObservation>): StorageObservation {
  return { storageDir: '/s', disk: undefined, state: { schema: 1 }, media: undefined, base: undefined, freeBytes: 100 * G, btrfs: false, ...patch };
}
function image(patch: Partial<Extract<ObservedMedia, { kind: 'disk' }>> = {}): ObservedMedia {
  return { kind: 'disk', path: '/img/base.qcow2', source: '/img/base.qcow2', format: 'qcow2', virtualSize: 10 * G, identity, partitionScheme: 'mbr', converted: undefined, ...patch };
}
const iso: ObservedMedia = { kind: 'iso', path: '/s/win.iso', source: 'https://example.test/win.iso', identity };

describe('planStorage', () => {
  it('reuses an existing disk as it is', () => {
    const plan = planStorage(config, observed({ disk: { path: '/s/data.qcow2', format: 'qcow2', virtualSize: 64 * G, backingFile: undefined, partitionScheme: 'gpt' } }));
    expect(plan.actions).toEqual([]);
    expect(plan.drives).toEqual([{ id: 'system', path: '/s/data.qcow2', format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 }]);
    expect(plan.bootMode.mode).toBe('uefi');
    expect(plan.record.bootMode).toBe('uefi');
  });

  it('grows a smaller existing disk and refuses to shrink a larger one (exit 2)', () => {
    const disk = { path: '/s/data.img', format: 'raw' as const, virtualSize: 32 * G, backingFile: undefined, partitionScheme: undefined };
    const grow = planStorage(config, observed({ disk, freeBytes: G }));
    expect(grow.actions).toEqual([expect.objectContaining({ kind: 'resize', target: '/s/data.img', format: 'raw', from: 32 * G, to: 64 * G })]);
    expect(grow.decisions.some((d) => d.level === 'warn' && /free space/.test(d.decision))).toBe(true);
    expect(grow.decisions.some((d) => /format raw/.test(d.decision))).toBe(true);

    const shrink = (() => {
      try {
        planStorage({ ...config, diskSize: 16 * G }, observed({ disk }));
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(shrink).toBeInstanceOf(AppError);
    expect((shrink as AppError).exitCode).toBe(2);
    expect((shrink as AppError).message).toMatch(/at least .*32G.*got 16G/);
  });

  it('keeps a disk larger than the default DISK_SIZE without refusing', () => {
    const plan = planStorage(config, observed({ disk: { path: '/s/data.qcow2', format: 'qcow2', virtualSize: 128 * G, backingFile: undefined, partitionScheme: undefined } }));
    expect(plan.actions).toEqual([]);
  });

  it('layers an overlay on a qcow2 or raw image, grown to DISK_SIZE, firmware from its MBR', () => {
    const plan = planStorage(config, observed({ media: image() }));
    expect(plan.actions).toEqual([
      expect.objectContaining({ kind: 'create-overlay', target: '/s/data.qcow2', base: '/img/base.qcow2', baseFormat: 'qcow2', size: 64 * G }),
    ]);
    expect(plan.systemDisk).toEqual({ path: '/s/data.qcow2', format: 'qcow2' });
    expect(plan.bootMode.mode).toBe('legacy');
    expect(plan.record.media).toMatchObject({ kind: 'disk', source: '/img/base.qcow2' });
  });

  it('keeps the image size when the image is larger than DISK_SIZE', () => {
    const plan = planStorage(config, observed({ media: image({ virtualSize: 100 * G, format: 'raw' }) }));
    expect(plan.actions).toEqual([expect.objectContaining({ kind: 'create-overlay', baseFormat: 'raw', size: undefined })]);
  });

  it('converts vmdk/vhd/vhdx once, and reuses an earlier conversion', () => {
    const first = planStorage(config, observed({ media: image({ path: '/img/disk.vhd', format: 'vpc' }) }));
    expect(first.actions.map((a) => a.kind)).toEqual(['convert-base', 'create-overlay']);
    expect(first.actions[0]).toMatchObject({ source: '/img/disk.vhd', target: '/s/disk.base.qcow2' });
    expect(first.actions[1]).toMatchObject({ base: '/s/disk.base.qcow2', baseFormat: 'qcow2' });
    const again = planStorage(config, observed({ media: image({ path: '/img/disk.vhd', format: 'vpc', converted: { path: '/s/disk.base.qcow2', virtualSize: 10 * G } }) }));
    expect(again.actions.map((a) => a.kind)).toEqual(['create-overlay']);
  });

  it('copies the image with BOOT_COPY=Y into DISK_FMT, nocow on btrfs', () => {
    const plan = planStorage({ ...config, bootCopy: true, diskFmt: 'raw' }, observed({ media: image(), btrfs: true }));
    expect(plan.actions[0]).toMatchObject({ kind: 'copy', target: '/s/data.img', format: 'raw', nocow: true });
    expect(plan.actions[1]).toMatchObject({ kind: 'resize', to: 64 * G });
  });

  it('refuses an image format it does not read', () => {
    expect(() => planStorage(config, observed({ media: image({ format: 'vdi' }) }))).toThrow(/vdi image/);
  });

  it('installs from an ISO onto a new empty disk, media first until the disk has booted', () => {
    const plan = planStorage(config, observed({ media: iso }));
    expect(plan.actions).toEqual([expect.objectContaining({ kind: 'create-empty', target: '/s/data.qcow2', size: 64 * G })]);
    expect(plan.drives.map((d) => [d.id, d.media, d.readOnly, d.bootIndex])).toEqual([
      ['install', 'cdrom', true, 1],
      ['system', 'disk', false, 2],
    ]);
    expect(plan.record.install).toEqual({ mediaAttached: true, bootedFromDisk: false });
    expect(plan.bootMode.mode).toBe('uefi');

    const disk = { path: '/s/data.qcow2', format: 'qcow2' as const, virtualSize: 64 * G, backingFile: undefined, partitionScheme: undefined };
    const state = { schema: 1 as const, bootMode: 'uefi' as const, install: { mediaAttached: true, bootedFromDisk: true } };
    const after = planStorage(config, observed({ disk, media: iso, state }));
    expect(after.drives.map((d) => [d.id, d.bootIndex])).toEqual([
      ['install', 2],
      ['system', 1],
    ]);
  });

  it('refuses an overlay whose base is missing or changed (exit 4)', () => {
    const disk = { path: '/s/data.qcow2', format: 'qcow2' as const, virtualSize: 64 * G, backingFile: '/img/base.qcow2', partitionScheme: undefined };
    const state = { schema: 1 as const, base: { path: '/img/base.qcow2', ...identity } };
    expect(() => planStorage(config, observed({ disk, state, base: 'missing' }))).toThrow(/base image \/img\/base.qcow2 .* is missing/);
    try {
      planStorage(config, observed({ disk, state, base: { size: 1001, mtimeMs: identity.mtimeMs } }));
      expect.unreachable();
    } catch (error) {
      expect((error as AppError).exitCode).toBe(4);
      expect((error as AppError).message).toMatch(/changed since the overlay was made \(size 1000 → 1001/);
    }
    expect(planStorage(config, observed({ disk, state, base: identity })).actions).toEqual([]);
  });
});

describe('the disk bus', () => {
  const disk = { path: '/s/data.qcow2', format: 'qcow2' as const, virtualSize: 64 * G, backingFile: undefined, partitionScheme: 'gpt' as const };

  it('is recorded the first time, from DISK_TYPE or the default', () => {
    expect(planStorage({ ...config, diskType: undefined }, observed({ disk })).record.diskBus).toBe('scsi');
    expect(planStorage({ ...config, diskType: 'sata' }, observed({ disk })).record.diskBus).toBe('sata');
  });

  it('keeps the recorded bus when DISK_TYPE is unset: an installed OS boots only from a bus it has drivers for', () => {
    const plan = planStorage({ ...config, diskType: undefined }, observed({ disk, state: { schema: 1, diskBus: 'sata' } }));
    expect(plan.drives.find((d) => d.id === 'system')?.bus).toBe('sata');
    expect(plan.record.diskBus).toBeUndefined();
  });

  it('follows an explicit DISK_TYPE over the record', () => {
    const plan = planStorage({ ...config, diskType: 'blk' }, observed({ disk, state: { schema: 1, diskBus: 'sata' } }));
    expect(plan.drives.find((d) => d.id === 'system')?.bus).toBe('blk');
  });
});
