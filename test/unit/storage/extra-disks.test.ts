/**
 * Disks 2 to 6 (extra-disks.ts): dockur's precedence (device, image, managed disk), each on the
 * system disk's bus, and the system disk's rules (never shrunk, never replaced) for each.
 */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { planExtraDisks, type ExtraDiskObservation } from '../../../src/storage/extra-disks.js';

const GiB = 2 ** 30;
const config = { diskFmt: 'qcow2' as const, allocate: false };

describe('planExtraDisks', () => {
  it('creates DISK2_SIZE in a mounted /storage2 and DISK3_SIZE in STORAGE, on the system bus', () => {
    const disks: ExtraDiskObservation[] = [
      { number: 2, size: 32 * GiB, source: { kind: 'none', dir: '/storage2', dirIsMount: true } },
      { number: 3, size: 64 * GiB, source: { kind: 'none', dir: '/storage', dirIsMount: false } },
      { number: 4, size: undefined, source: { kind: 'none', dir: '/storage', dirIsMount: false } },
    ];
    const plan = planExtraDisks({ diskFmt: 'raw', allocate: true }, 'blk', disks, false);
    expect(plan.actions).toEqual([
      expect.objectContaining({ kind: 'create-empty', target: '/storage2/data2.img', format: 'raw', size: 32 * GiB, preallocate: true }),
      expect.objectContaining({ kind: 'create-empty', target: '/storage/data3.img', format: 'raw', size: 64 * GiB, preallocate: true }),
    ]);
    expect(plan.drives).toEqual([
      { id: 'disk2', path: '/storage2/data2.img', format: 'raw', media: 'disk', bus: 'blk', readOnly: false, bootIndex: undefined },
      { id: 'disk3', path: '/storage/data3.img', format: 'raw', media: 'disk', bus: 'blk', readOnly: false, bootIndex: undefined },
    ]);
  });

  it('attaches a block device as host_device and an image as it is, never resizing either', () => {
    const plan = planExtraDisks(config, 'scsi', [
      { number: 2, size: 8 * GiB, source: { kind: 'device', path: '/dev/disk2' } },
      { number: 5, size: undefined, source: { kind: 'image', path: '/disk5.qcow2', format: 'qcow2' } },
    ], false);
    expect(plan.actions).toEqual([]);
    expect(plan.drives.map((d) => [d.id, d.path, d.format, d.driver])).toEqual([
      ['disk2', '/dev/disk2', 'raw', 'host_device'],
      ['disk5', '/disk5.qcow2', 'qcow2', undefined],
    ]);
    expect(plan.decisions).toContainEqual(expect.objectContaining({ decision: 'leave DISK2_SIZE unused', level: 'warn' }));
  });

  it('keeps an existing disk whose DISKn_SIZE was removed, and grows one whose size went up', () => {
    const plan = planExtraDisks(config, 'scsi', [
      { number: 2, size: undefined, source: { kind: 'managed', path: '/storage2/data2.qcow2', format: 'qcow2', virtualSize: 4 * GiB } },
      { number: 3, size: 16 * GiB, source: { kind: 'managed', path: '/storage/data3.qcow2', format: 'qcow2', virtualSize: 8 * GiB } },
    ], false);
    expect(plan.drives.map((d) => d.id)).toEqual(['disk2', 'disk3']);
    expect(plan.actions).toEqual([expect.objectContaining({ kind: 'resize', target: '/storage/data3.qcow2', from: 8 * GiB, to: 16 * GiB })]);
  });

  it('refuses to shrink an extra disk, naming the variable and the disk', () => {
    let error: unknown;
    try {
      planExtraDisks(config, 'scsi', [{ number: 4, size: 2 * GiB, source: { kind: 'managed', path: '/storage4/data4.qcow2', format: 'qcow2', virtualSize: 8 * GiB } }], false);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(2);
    expect((error as AppError).message).toBe('DISK4_SIZE must be at least the size of the existing disk /storage4/data4.qcow2 (8G), got 2G: windock never shrinks a disk');
  });
});
