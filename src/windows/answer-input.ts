/**
 * What the answer file is built from, decided in one place for the run (windows-stage.ts) and for
 * `windock unattend` (which prints it without a VM): the settings, the firmware, the disk Setup
 * installs to, the architecture. Pure.
 */
import type { Config } from '../config/options.js';
import { AppError } from '../core/errors.js';
import type { DiskBus, DriveSpec } from '../qemu/vm-spec.js';
import { installsHandsOff, resolveVersion, type CatalogEntry } from './catalog.js';
import { windowsSettings } from './settings.js';
import { SETUP_MARKER, windowsDevices } from './setup-image.js';
import type { AnswerFileInput } from './unattend.js';

/** Windows numbers disks in discovery order; windock lists the system disk first of its hard disks. */
export function systemDiskNumber(drives: readonly DriveSpec[]): number {
  const disks = drives.filter((d) => d.media === 'disk');
  const index = disks.findIndex((d) => d.id === 'system');
  return index < 0 ? 0 : index;
}

/**
 * The disk number Setup must install to. Windows PE numbers disks as their drivers find them:
 * inbox boot drivers (AHCI, NVMe, IDE) find theirs while the PCI bus is enumerated, before the
 * USB hub below xHCI reports the setup image; a virtio disk appears only once Setup loads
 * vioscsi/viostor from that same USB stick (DriverPaths), so the stick is disk 0 and the
 * system disk follows it. Counting the stick there keeps WillWipeDisk off the setup image.
 */
export function targetDiskNumber(drives: readonly DriveSpec[], systemBus: DiskBus, setupOnUsb: boolean): number {
  const loadedFromSetupImage = systemBus === 'scsi' || systemBus === 'blk';
  return systemDiskNumber(drives) + (setupOnUsb && loadedFromSetupImage ? 1 : 0);
}

export type AnswerInputConfig = Parameters<typeof windowsSettings>[0] & Pick<Config, 'ramSize'>;

export interface AnswerInputFacts {
  entry: CatalogEntry;
  firmware: 'uefi' | 'secure' | 'legacy';
  /** The drives the VM gets (without the setup image), and the system disk's bus. */
  drives: readonly DriveSpec[];
  systemBus: DiskBus;
  tpm: boolean;
  oem: boolean;
}

export function answerFileInput(config: AnswerInputConfig, facts: AnswerInputFacts): { input: AnswerFileInput; warnings: string[] } {
  const { settings, warnings } = windowsSettings(config, facts.entry);
  const { entry } = facts;
  return {
    input: {
      settings,
      family: entry.family,
      firmware: facts.firmware,
      diskNumber: targetDiskNumber(facts.drives, facts.systemBus, true),
      tpm: facts.tpm,
      ramBytes: config.ramSize,
      oem: facts.oem,
      markerFile: SETUP_MARKER,
      arch: entry.arch,
      // Vista, 7 and 2008 R2: the answer-file installs that boot SeaBIOS.
      vistaOr7: entry.bootMode === 'legacy',
    },
    warnings,
  };
}

export interface PreviewOptions {
  showSecrets: boolean;
  /** Whether this image bundles virtio drivers for the version (decides the disk bus, hence the disk number). */
  driversAvailable: boolean;
}

/**
 * `windock unattend`: the answer file the settings give, as the run would build it for a new
 * disk. Passwords and a user's KEY are written as Windows writes them in the copy it keeps,
 * unless showSecrets. Throws a config error when VERSION has no answer file.
 */
export async function previewAnswerFile(config: Config, options: PreviewOptions): Promise<string> {
  const resolved = config.boot ? undefined : resolveVersion(config.version);
  if (resolved?.kind !== 'catalog' || !installsHandsOff(resolved.entry)) {
    throw new AppError('config', `no answer file for ${config.boot ? `BOOT=${JSON.stringify(config.boot)}` : `VERSION=${JSON.stringify(config.version)}`}: windock builds one only for a catalog Windows it installs hands-off`, {
      hint: 'Set VERSION to a key such as 11, 10 or 2022 (see the README\'s version table) and leave BOOT unset.',
      details: { variable: config.boot ? 'BOOT' : 'VERSION' },
    });
  }
  const { entry } = resolved;
  const systemBus = config.diskType ?? windowsDevices(entry, options.driversAvailable).disk;
  const firmware = config.bootMode ?? entry.bootMode;
  const system: DriveSpec = { id: 'system', path: 'data', format: 'qcow2', media: 'disk', bus: systemBus, readOnly: false, bootIndex: 1 };
  const { input } = answerFileInput(config, { entry, firmware, drives: [system], systemBus, tpm: firmware === 'secure', oem: false });
  const { buildAnswerFile, REDACTED } = await import('./unattend.js');
  const redacted = options.showSecrets ? input : { ...input, redactSecrets: true, settings: { ...input.settings, productKey: config.key ? REDACTED : input.settings.productKey } };
  return buildAnswerFile(redacted);
}
