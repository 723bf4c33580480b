/**
 * Disks 2 to 6, pure: dockur's DISK2_SIZE…DISK6_SIZE (a managed image in /storage2…/storage6 when
 * that directory is mounted, else in STORAGE), images bind-mounted at /disk2.img… and block
 * devices at /disk2, /dev/disk2 or named by DEVICE2… (qemus/qemu src/disk.sh: device first, then
 * image, then managed disk). Every one is attached on the system disk's bus. The rules of the
 * system disk hold for each: an existing disk is never deleted, replaced, converted or shrunk; a
 * larger DISKn_SIZE grows a managed disk, a smaller one is refused.
 */
import { formatSize } from '../config/parsers.js';
import { AppError } from '../core/errors.js';
import type { DiskBus, DriveSpec } from '../qemu/vm-spec.js';
import type { Decision, StorageAction } from './storage-plan.js';

export const EXTRA_DISK_NUMBERS = [2, 3, 4, 5, 6] as const;
export type ExtraDiskNumber = (typeof EXTRA_DISK_NUMBERS)[number];

/** What the caller found for one disk number, in dockur's order of precedence. */
export type ExtraDiskSource =
  /** A block device: DEVICEn, else /diskN or /dev/diskN when it is one. */
  | { kind: 'device'; path: string }
  /** An image the user mounted: /diskN.img, /diskN.raw or /diskN.qcow2 (or /dataN.*). */
  | { kind: 'image'; path: string; format: 'qcow2' | 'raw' }
  /** windock's own file, dataN.qcow2 / dataN.img, found in /storageN or STORAGE. */
  | { kind: 'managed'; path: string; format: 'qcow2' | 'raw'; virtualSize: number }
  /** Nothing yet: a new one is made in `dir` when DISKn_SIZE is set. */
  | { kind: 'none'; dir: string; dirIsMount: boolean };

export interface ExtraDiskObservation {
  number: ExtraDiskNumber;
  source: ExtraDiskSource;
  /** DISKn_SIZE, undefined when not set. */
  size: number | undefined;
}

export interface ExtraDiskConfig {
  diskFmt: 'qcow2' | 'raw';
  allocate: boolean;
}

export interface ExtraDiskPlan {
  actions: StorageAction[];
  drives: DriveSpec[];
  decisions: Decision[];
}

export function managedDiskName(number: ExtraDiskNumber, format: 'qcow2' | 'raw'): string {
  return `data${number}.${format === 'qcow2' ? 'qcow2' : 'img'}`;
}

export function planExtraDisks(config: ExtraDiskConfig, bus: DiskBus, disks: readonly ExtraDiskObservation[], btrfs: boolean): ExtraDiskPlan {
  const plan: ExtraDiskPlan = { actions: [], drives: [], decisions: [] };
  for (const disk of disks) {
    const name = `DISK${disk.number}_SIZE`;
    const drive = (path: string, format: 'qcow2' | 'raw', driver: DriveSpec['driver']): DriveSpec => ({
      id: `disk${disk.number}`, path, format, media: 'disk', bus, readOnly: false, bootIndex: undefined, ...(driver ? { driver } : {}),
    });
    const { source } = disk;
    switch (source.kind) {
      case 'device':
      case 'image':
        if (disk.size !== undefined) {
          plan.decisions.push({ decision: `leave ${name} unused`, reason: `disk ${disk.number} is the ${source.kind} ${source.path}, attached as it is (never resized)`, level: 'warn' });
        }
        plan.drives.push(source.kind === 'device' ? drive(source.path, 'raw', 'host_device') : drive(source.path, source.format, undefined));
        plan.decisions.push({ decision: `attach disk ${disk.number}`, reason: `the ${source.kind} ${source.path}`, level: 'info' });
        break;
      case 'managed':
        plan.drives.push(drive(source.path, source.format, undefined));
        if (disk.size !== undefined && disk.size > source.virtualSize) {
          plan.actions.push({ kind: 'resize', target: source.path, format: source.format, from: source.virtualSize, to: disk.size, reason: `${name} is larger than the disk` });
        } else if (disk.size !== undefined && disk.size < source.virtualSize) {
          throw new AppError('config', `${name} must be at least the size of the existing disk ${source.path} (${formatSize(source.virtualSize)}), got ${formatSize(disk.size)}: windock never shrinks a disk`, {
            hint: `Set ${name} to ${formatSize(source.virtualSize)} or more, or unset it to keep the disk as it is.`,
            details: { variable: name, disk: source.path, diskBytes: source.virtualSize, sizeBytes: disk.size },
          });
        }
        plan.decisions.push({ decision: `reuse disk ${disk.number}`, reason: `it exists at ${source.path}`, level: 'info' });
        break;
      case 'none': {
        if (disk.size === undefined) break;
        const path = `${source.dir}/${managedDiskName(disk.number, config.diskFmt)}`;
        plan.actions.push({
          kind: 'create-empty', target: path, format: config.diskFmt, size: disk.size, nocow: btrfs, preallocate: config.allocate,
          reason: `${name} is set and disk ${disk.number} does not exist yet (${source.dirIsMount ? `/storage${disk.number} is mounted` : `no /storage${disk.number}, so in STORAGE`})`,
        });
        plan.drives.push(drive(path, config.diskFmt, undefined));
        break;
      }
    }
  }
  return plan;
}
