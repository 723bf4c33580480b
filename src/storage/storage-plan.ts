/**
 * The storage plan, pure: from the configuration and what is on disk (observed by the caller),
 * decide what the system disk is, what to create, convert or grow, what the VM boots from and in
 * which order, and what windock.json must record. Every decision carries its reason for the log.
 * Refusals (shrink, a base that vanished or changed under its overlay) are thrown here, before
 * anything is touched.
 *
 * The one rule above all: an existing disk is never deleted, truncated, shrunk, replaced or
 * converted by windock; only new files are created.
 */
import { OPTIONS, type Config } from '../config/options.js';
import { formatSize } from '../config/parsers.js';
import { AppError } from '../core/errors.js';
import type { DriveSpec, ImageFormat } from '../qemu/vm-spec.js';
import { planExtraDisks, type ExtraDiskObservation } from './extra-disks.js';
import { chooseBootMode, type BootModeDecision } from './firmware.js';
import type { PersistedState } from '../state/state-file.js';

import type { PartitionScheme } from './partition.js';

export type { PartitionScheme };

export interface ObservedDisk {
  path: string;
  /** The file name decides the format: data.qcow2 is qcow2, data.img is raw. */
  format: 'qcow2' | 'raw';
  virtualSize: number;
  /** The resolved backing file when the disk is an overlay. */
  backingFile: string | undefined;
  partitionScheme: PartitionScheme | undefined;
  /** DEVICE (system-device.ts): a block device, attached raw as it is; `blank` when its first MiB is all zeros. */
  device?: { blank: boolean };
}

/** A file's identity, recorded when an overlay is made on it and compared on every start. */
export interface FileIdentity {
  size: number;
  mtimeMs: number;
}

/** Local media, after any download or box extraction. */
export type ObservedMedia =
  | { kind: 'iso'; path: string; source: string; identity: FileIdentity }
  | {
      kind: 'disk';
      path: string;
      /** What the user named (path or URL without its query), for windock.json and the logs. */
      source: string;
      /** qemu-img's format name. */
      format: string;
      virtualSize: number;
      identity: FileIdentity;
      partitionScheme: PartitionScheme | undefined;
      /** A base converted from this image earlier (STORAGE/NAME.base.qcow2), if present. */
      converted: { path: string; virtualSize: number } | undefined;
    };

export interface StorageObservation {
  storageDir: string;
  disk: ObservedDisk | undefined;
  state: PersistedState;
  /** The install media, observed when a disk must be made or an install is still under way. */
  media: ObservedMedia | undefined;
  /** Current identity of the overlay's recorded base (`state.base.path`); 'missing' when gone. */
  base: FileIdentity | 'missing' | undefined;
  /** Free bytes in STORAGE, for the growth warning. */
  freeBytes: number | undefined;
  /** STORAGE is on btrfs: new writable images get copy-on-write turned off. */
  btrfs: boolean;
  /** Disks 2 to 6 (extra-disks.ts); none when absent. */
  extraDisks?: readonly ExtraDiskObservation[];
}

export type StorageAction =
  | { kind: 'convert-base'; source: string; sourceFormat: string; target: string; reason: string }
  | { kind: 'create-overlay'; target: string; base: string; baseFormat: string; size: number | undefined; nocow: boolean; reason: string }
  | { kind: 'copy'; source: string; sourceFormat: string; target: string; format: 'qcow2' | 'raw'; nocow: boolean; reason: string }
  | { kind: 'create-empty'; target: string; format: 'qcow2' | 'raw'; size: number; nocow: boolean; reason: string; /** ALLOCATE=Y: reserve the full size at once. */ preallocate?: boolean }
  | { kind: 'resize'; target: string; format: 'qcow2' | 'raw'; from: number; to: number; reason: string };

export interface Decision {
  decision: string;
  reason: string;
  level: 'info' | 'warn';
  details?: Record<string, unknown>;
}

export interface StoragePlan {
  systemDisk: { path: string; format: 'qcow2' | 'raw' };
  actions: StorageAction[];
  drives: DriveSpec[];
  bootMode: BootModeDecision;
  /** Facts to persist once the actions have been applied (merged into windock.json). */
  record: Pick<PersistedState, 'media' | 'base' | 'install' | 'bootMode' | 'diskBus'>;
  decisions: Decision[];
}

/** Virtio-SCSI: TRIM, many disks on one controller, and the bus Windows' virtio drivers serve best. */
export const DEFAULT_DISK_BUS = 'scsi';

export type PlanConfig = Pick<Config, 'diskSize' | 'diskFmt' | 'diskType' | 'bootCopy' | 'bootMode'> & Partial<Pick<Config, 'allocate'>>;

/**
 * Formats an overlay may sit on directly. VMDK, VHD (`vpc`) and VHDX are readable by QEMU but
 * are converted once to qcow2 first: their drivers are meant for import/export rather than a hot
 * I/O path, `vpc` rounds the virtual size to a CHS geometry (a 64 MiB VHD reads as 67125248
 * bytes), and stream-optimized VMDKs are compressed. qemu-img(1), "Disk image file formats".
 */
export const DIRECT_BASE_FORMATS: readonly string[] = ['qcow2', 'raw'];
export const CONVERTIBLE_FORMATS: readonly string[] = ['vmdk', 'vpc', 'vhdx'];

export function convertedBaseName(mediaPath: string): string {
  const base = mediaPath.split('/').pop() ?? 'base';
  return `${base.replace(/\.(vmdk|vhdx?|img|raw)$/i, '')}.base.qcow2`;
}

export function planStorage(config: PlanConfig, observed: StorageObservation): StoragePlan {
  const decisions: Decision[] = [];
  const actions: StorageAction[] = [];
  const { state } = observed;
  const storage = observed.storageDir;
  const record: StoragePlan['record'] = {};

  let systemDisk: { path: string; format: 'qcow2' | 'raw' };
  let currentSize: number;
  let diskKind: 'new' | 'existing' | 'image';
  let scheme: PartitionScheme | undefined;

  if (observed.disk?.device) {
    const made = planOnDevice(observed.disk, observed, record, decisions);
    systemDisk = { path: observed.disk.path, format: 'raw' };
    currentSize = observed.disk.virtualSize;
    diskKind = made;
    scheme = observed.disk.partitionScheme;
  } else if (observed.disk) {
    const disk = observed.disk;
    systemDisk = { path: disk.path, format: disk.format };
    currentSize = disk.virtualSize;
    diskKind = 'existing';
    scheme = disk.partitionScheme;
    decisions.push({ decision: 'reuse the system disk', reason: 'it exists in STORAGE', level: 'info', details: { disk: disk.path } });
    if (disk.format !== config.diskFmt) {
      decisions.push({
        decision: `keep the disk's format ${disk.format}`,
        reason: `DISK_FMT=${config.diskFmt} only applies to a new disk; a format change is never done implicitly`,
        level: 'warn',
      });
    }
    checkBase(disk, observed);
  } else {
    const media = observed.media;
    if (!media) {
      // The caller always observes media when there is no disk; this is a programming error.
      throw new AppError('internal', 'planStorage: no system disk and no media observed');
    }
    if (media.kind === 'iso') {
      const format = config.diskFmt;
      systemDisk = { path: `${storage}/${format === 'qcow2' ? 'data.qcow2' : 'data.img'}`, format };
      currentSize = config.diskSize;
      diskKind = 'new';
      actions.push({
        kind: 'create-empty',
        target: systemDisk.path,
        format,
        size: config.diskSize,
        nocow: observed.btrfs,
        preallocate: config.allocate,
        reason: 'BOOT is an ISO: the OS is installed onto a new empty (sparse) disk of DISK_SIZE',
      });
      record.media = { source: media.source, kind: 'iso', path: media.path, size: media.identity.size, mtimeMs: media.identity.mtimeMs };
      record.install = { mediaAttached: true, bootedFromDisk: false };
    } else {
      diskKind = 'image';
      scheme = media.partitionScheme;
      const made = planFromImage(config, media, storage, observed.btrfs, actions, record);
      systemDisk = made.disk;
      currentSize = made.size;
    }
  }

  // Growth: a larger DISK_SIZE grows the disk, a smaller one is refused (exit 2) — except that the
  // untouched default never refuses: a user who did not set DISK_SIZE keeps a larger disk as is.
  // A block device has the size it has.
  if (observed.disk?.device) {
    if (config.diskSize !== OPTIONS.diskSize.default) {
      decisions.push({ decision: 'leave DISK_SIZE unused', reason: `the system disk is the block device ${systemDisk.path} (${formatSize(currentSize)}), attached as it is`, level: 'warn' });
    }
  } else if (config.diskSize > currentSize) {
    const reason = 'DISK_SIZE is larger than the disk; the guest must extend its partition to use the space';
    const newDisk = actions.find((a) => a.kind === 'create-overlay' && a.target === systemDisk.path);
    if (newDisk && newDisk.kind === 'create-overlay') {
      newDisk.size = config.diskSize;
      decisions.push({ decision: 'make the overlay larger than its base', reason, level: 'info', details: { bytes: config.diskSize } });
    } else if (!actions.some((a) => a.kind === 'create-empty')) {
      actions.push({ kind: 'resize', target: systemDisk.path, format: systemDisk.format, from: currentSize, to: config.diskSize, reason });
      const growth = config.diskSize - currentSize;
      if (observed.freeBytes !== undefined && observed.freeBytes < growth) {
        decisions.push({
          decision: 'grow the disk although STORAGE has less free space than the growth',
          reason: 'the disk is sparse, but the guest can fill it and then writes fail with ENOSPC',
          level: 'warn',
          details: { growthBytes: growth, freeBytes: observed.freeBytes },
        });
      }
    }
  } else if (config.diskSize < currentSize) {
    // Refused for an image too (before anything is made), so that the same DISK_SIZE never
    // creates a disk at the first start that a restart would refuse.
    if (config.diskSize !== OPTIONS.diskSize.default) {
      throw new AppError(
        'config',
        diskKind === 'existing'
          ? `DISK_SIZE must be at least the size of the existing disk ${systemDisk.path} (${formatSize(currentSize)}), got ${formatSize(config.diskSize)}: windock never shrinks a disk`
          : `DISK_SIZE must be at least the size of the BOOT image (${formatSize(currentSize)}), got ${formatSize(config.diskSize)}: windock never shrinks a disk`,
        {
          hint: `Set DISK_SIZE to ${formatSize(currentSize)} or more. Shrinking needs a manual resize of the guest's partitions first.`,
          details: { disk: systemDisk.path, diskBytes: currentSize, diskSizeBytes: config.diskSize },
        },
      );
    }
    decisions.push({
      decision: 'keep the disk size',
      reason: 'DISK_SIZE is not set and the disk is larger than its default',
      level: 'info',
      details: { diskBytes: currentSize },
    });
  }

  // Firmware: the recorded mode of this disk wins over guesses (see firmware.ts).
  const bootMode = chooseBootMode({ explicit: config.bootMode, recorded: state.bootMode, disk: diskKind, partitionScheme: scheme });
  if (state.bootMode === undefined) record.bootMode = bootMode.mode;
  // The disk's bus, likewise: DISK_TYPE wins, else the bus the disk was first attached on (an
  // installed Windows only boots from a controller it has drivers for), else the default.
  if (state.diskBus === undefined) record.diskBus = config.diskType ?? DEFAULT_DISK_BUS;

  const drives = planDrives(config, systemDisk, observed, record, decisions);
  const system = drives.find((d) => d.id === 'system');
  const extra = planExtraDisks({ diskFmt: config.diskFmt, allocate: config.allocate ?? false }, system?.bus ?? DEFAULT_DISK_BUS, observed.extraDisks ?? [], observed.btrfs);
  drives.push(...extra.drives);
  actions.push(...extra.actions);
  decisions.push(...extra.decisions);
  for (const action of actions) decisions.push({ decision: action.kind, reason: action.reason, level: 'info' });
  return { systemDisk, actions, drives, bootMode, record, decisions };
}

function planFromImage(
  config: PlanConfig,
  media: Extract<ObservedMedia, { kind: 'disk' }>,
  storage: string,
  btrfs: boolean,
  actions: StorageAction[],
  record: StoragePlan['record'],
): { disk: { path: string; format: 'qcow2' | 'raw' }; size: number } {
  record.media = { source: media.source, kind: 'disk', path: media.path, size: media.identity.size, mtimeMs: media.identity.mtimeMs };
  record.install = { mediaAttached: false, bootedFromDisk: false };
  if (!DIRECT_BASE_FORMATS.includes(media.format) && !CONVERTIBLE_FORMATS.includes(media.format)) {
    throw new AppError('media', `BOOT ${media.source} is a ${media.format} image; windock reads qcow2, raw, vmdk, vhd and vhdx`, {
      hint: `Convert it first, e.g. qemu-img convert -O qcow2 ${media.path} image.qcow2`,
      details: { format: media.format },
    });
  }
  if (config.bootCopy) {
    const format = config.diskFmt;
    const target = `${storage}/${format === 'qcow2' ? 'data.qcow2' : 'data.img'}`;
    actions.push({
      kind: 'copy',
      source: media.path,
      sourceFormat: media.format,
      target,
      format,
      nocow: btrfs,
      reason: 'BOOT_COPY=Y: a full, independent copy of the image',
    });
    return { disk: { path: target, format }, size: media.virtualSize };
  }
  let base = { path: media.path, format: media.format, size: media.virtualSize };
  if (!DIRECT_BASE_FORMATS.includes(media.format)) {
    const converted = `${storage}/${convertedBaseName(media.path)}`;
    if (media.converted) {
      base = { path: media.converted.path, format: 'qcow2', size: media.converted.virtualSize };
    } else {
      actions.push({
        kind: 'convert-base',
        source: media.path,
        sourceFormat: media.format,
        target: converted,
        reason: `${media.format} images are converted once to a qcow2 base in STORAGE`,
      });
      base = { path: converted, format: 'qcow2', size: media.virtualSize };
    }
  }
  const target = `${storage}/data.qcow2`;
  actions.push({
    kind: 'create-overlay',
    target,
    base: base.path,
    baseFormat: base.format,
    size: undefined,
    nocow: btrfs,
    reason: 'BOOT is a disk image: it stays a read-only golden base under a copy-on-write overlay (qcow2, whatever DISK_FMT says)',
  });
  return { disk: { path: target, format: 'qcow2' }, size: base.size };
}

/**
 * DEVICE as the system disk. A blank device (first MiB all zeros) gets the install, as a new disk
 * would; so does one an install onto it is still under way (windock.json); anything else holds
 * someone's data and is booted as it is. A disk image cannot be written onto a device.
 */
function planOnDevice(disk: ObservedDisk, observed: StorageObservation, record: StoragePlan['record'], decisions: Decision[]): 'new' | 'existing' {
  const installing = observed.state.install?.mediaAttached === true && observed.state.install.bootedFromDisk === false;
  const media = observed.media;
  if (!disk.device?.blank || installing || !media) {
    decisions.push({
      decision: 'boot the block device',
      reason: installing ? 'an install onto it is under way (windock.json)' : disk.device?.blank ? 'it is blank, but there is no install media' : 'it is not blank: it holds data, which windock never overwrites',
      level: disk.device?.blank && !installing ? 'warn' : 'info',
      details: { disk: disk.path },
    });
    return installing ? 'new' : 'existing';
  }
  if (media.kind !== 'iso') {
    throw new AppError('config', `DEVICE ${disk.path} is the system disk and BOOT is the disk image ${media.source}: windock does not write an image onto a device`, {
      hint: 'Unset DEVICE to boot the image under a copy-on-write overlay in STORAGE, or write it onto the device yourself (qemu-img convert -O raw IMAGE DEVICE) and unset BOOT.',
      details: { device: disk.path, boot: media.source },
    });
  }
  record.media = { source: media.source, kind: 'iso', path: media.path, size: media.identity.size, mtimeMs: media.identity.mtimeMs };
  record.install = { mediaAttached: true, bootedFromDisk: false };
  decisions.push({ decision: 'install onto the block device', reason: 'it is blank (its first MiB is all zeros)', level: 'info', details: { disk: disk.path } });
  return 'new';
}

/** An existing overlay's base must be the very file it was made on: a changed base corrupts the guest. */
function checkBase(disk: ObservedDisk, observed: StorageObservation): void {
  const recorded = observed.state.base;
  if (!disk.backingFile) return;
  const hint =
    'Put the original base image back at that path, unchanged. windock does not repair or re-create the overlay: it holds the guest\'s own changes.';
  if (observed.base === 'missing') {
    throw new AppError('media', `the base image ${recorded?.path ?? disk.backingFile} of the overlay ${disk.path} is missing`, {
      hint,
      details: { overlay: disk.path, base: recorded?.path ?? disk.backingFile },
    });
  }
  if (recorded && observed.base && (observed.base.size !== recorded.size || observed.base.mtimeMs !== recorded.mtimeMs)) {
    throw new AppError(
      'media',
      `the base image ${recorded.path} of the overlay ${disk.path} changed since the overlay was made (size ${recorded.size} → ${observed.base.size}, mtime ${new Date(recorded.mtimeMs).toISOString()} → ${new Date(observed.base.mtimeMs).toISOString()})`,
      { hint, details: { overlay: disk.path, base: recorded.path, recorded, found: observed.base } },
    );
  }
}

function planDrives(
  config: PlanConfig,
  systemDisk: { path: string; format: 'qcow2' | 'raw' },
  observed: StorageObservation,
  record: StoragePlan['record'],
  decisions: Decision[],
): DriveSpec[] {
  const system: DriveSpec = {
    id: 'system',
    path: systemDisk.path,
    format: systemDisk.format,
    media: 'disk',
    bus: config.diskType ?? observed.state.diskBus ?? DEFAULT_DISK_BUS,
    readOnly: false,
    bootIndex: 1,
    ...(observed.disk?.device ? { driver: 'host_device' as const } : {}),
  };
  const media = observed.media;
  const install = record.install ?? observed.state.install;
  if (!media || media.kind !== 'iso' || !install?.mediaAttached) return [system];
  const booted = install.bootedFromDisk;
  const cdrom: DriveSpec = {
    id: 'install',
    path: media.path,
    format: 'raw' satisfies ImageFormat,
    media: 'cdrom',
    // SATA (ide-cd on AHCI): every installer and firmware can boot and read it without drivers.
    bus: 'sata',
    readOnly: true,
    bootIndex: booted ? 2 : 1,
  };
  system.bootIndex = booted ? 1 : 2;
  decisions.push({
    decision: booted ? 'boot the disk first, install media second' : 'boot the install media first',
    reason: booted ? 'the guest has booted from its disk before (windock.json)' : 'the OS has not been installed onto the disk yet',
    level: 'info',
  });
  return [cdrom, system];
}

