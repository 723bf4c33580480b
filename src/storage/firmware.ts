/**
 * Firmware for the guest: which boot mode (a pure decision with its reason) and, for UEFI, which
 * OVMF code image plus this VM's own copy of the variable store.
 *
 * Why the mode is remembered: an OS installed under SeaBIOS sits on an MBR disk with a legacy
 * boot sector, one installed under UEFI on a GPT disk with an EFI system partition. Neither boots
 * under the other firmware, so the mode a disk was made (or first booted) with is recorded in
 * windock.json and kept for the life of the disk; only an explicit BOOT_MODE overrides it.
 */
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import type { FirmwareSpec } from '../qemu/vm-spec.js';
import { copyFileOnce } from '../state/durable-file.js';

export type BootMode = 'uefi' | 'secure' | 'legacy';

/** Debian's `ovmf` package installs here; the Docker image may use another directory. */
export const DEFAULT_FIRMWARE_DIR = '/usr/share/OVMF';

/**
 * Code/vars pairs in order of preference. A code image only works with a vars template of the
 * same flash size (4 MiB or 2 MiB). For secure boot Debian's `OVMF_CODE_4M.secboot.fd` (SMM,
 * secure boot capable; `.ms.fd` is a symlink to it) goes with `OVMF_VARS_4M.ms.fd`, the template
 * with Microsoft's keys enrolled and secure boot on (Debian ovmf README.Debian).
 */
export const OVMF_PAIRS: Readonly<Record<'uefi' | 'secure', readonly { code: string; vars: string }[]>> = {
  uefi: [
    { code: 'OVMF_CODE_4M.fd', vars: 'OVMF_VARS_4M.fd' },
    { code: 'OVMF_CODE.fd', vars: 'OVMF_VARS.fd' },
  ],
  secure: [
    { code: 'OVMF_CODE_4M.secboot.fd', vars: 'OVMF_VARS_4M.ms.fd' },
    { code: 'OVMF_CODE_4M.ms.fd', vars: 'OVMF_VARS_4M.ms.fd' },
    { code: 'OVMF_CODE.secboot.fd', vars: 'OVMF_VARS.ms.fd' },
  ],
};

/** The VM's writable variable store, one per mode so that switching modes never mixes keys. */
export const VARS_FILE: Readonly<Record<'uefi' | 'secure', string>> = {
  uefi: 'uefi-vars.fd',
  secure: 'uefi-vars-secure.fd',
};

export interface BootModeInput {
  /** BOOT_MODE, when the user set it. */
  explicit: BootMode | undefined;
  /** The mode windock.json recorded for the existing disk. */
  recorded: BootMode | undefined;
  /** What the system disk is: made now (empty or from an ISO), an existing disk, or a BOOT disk image. */
  disk: 'new' | 'existing' | 'image';
  /** Partition scheme found on an existing disk or image, when it could be read. */
  partitionScheme?: 'gpt' | 'mbr' | 'none' | undefined;
}

export interface BootModeDecision {
  mode: BootMode;
  reason: string;
  /** Set when an explicit BOOT_MODE contradicts what the disk was made with. */
  warning?: string;
}

/**
 * Decides the firmware mode. Order: explicit BOOT_MODE > recorded mode > the disk's partition
 * table (GPT → UEFI, MBR → legacy: how Windows and most OSes pair them) > UEFI for a new disk
 * (Windows 11 requires it, every current OS supports it) > legacy for a disk of unknown layout
 * (an image without a partition table is most often an old BIOS-era image).
 */
export function chooseBootMode(input: BootModeInput): BootModeDecision {
  const { explicit, recorded } = input;
  if (explicit) {
    const decision: BootModeDecision = { mode: explicit, reason: 'BOOT_MODE is set' };
    if (recorded && isUefi(recorded) !== isUefi(explicit)) {
      decision.warning = `the disk was set up with BOOT_MODE=${recorded}; a disk installed under ${recorded === 'legacy' ? 'BIOS' : 'UEFI'} usually does not boot under ${explicit === 'legacy' ? 'BIOS' : 'UEFI'}`;
    }
    return decision;
  }
  if (recorded) return { mode: recorded, reason: 'the mode the disk was set up with (windock.json)' };
  if (input.disk === 'new') return { mode: 'uefi', reason: 'a new disk is installed under UEFI by default' };
  if (input.partitionScheme === 'gpt') return { mode: 'uefi', reason: 'the disk has a GPT partition table' };
  if (input.partitionScheme === 'mbr') return { mode: 'legacy', reason: 'the disk has an MBR partition table' };
  if (input.disk === 'existing') {
    return { mode: 'uefi', reason: 'no recorded mode and no readable partition table: UEFI, the default' };
  }
  return { mode: 'legacy', reason: 'a disk image with no readable partition table: legacy BIOS is the safer guess' };
}

function isUefi(mode: BootMode): boolean {
  return mode !== 'legacy';
}

export interface FirmwareFiles {
  code: string;
  varsTemplate: string;
}

/** Finds the first installed code/vars pair for the mode; exit 3 when there is none. */
export async function locateOvmf(mode: 'uefi' | 'secure', firmwareDir: string): Promise<FirmwareFiles> {
  for (const pair of OVMF_PAIRS[mode]) {
    const code = join(firmwareDir, pair.code);
    const varsTemplate = join(firmwareDir, pair.vars);
    if ((await readable(code)) && (await readable(varsTemplate))) return { code, varsTemplate };
  }
  throw new AppError('host', `no OVMF firmware for BOOT_MODE=${mode} in ${firmwareDir}`, {
    hint: `Install the Debian package "ovmf" (expected ${OVMF_PAIRS[mode].map((p) => `${p.code} + ${p.vars}`).join(' or ')}), or set BOOT_MODE=legacy.`,
    details: { firmwareDir, mode },
  });
}

/**
 * The firmware spec for a mode. For UEFI the vars template is copied into STORAGE once and never
 * overwritten afterwards: it holds the guest's boot entries and (secure boot) enrolled keys.
 */
export async function prepareFirmware(
  mode: BootMode,
  firmwareDir: string,
  storageDir: string,
): Promise<{ spec: FirmwareSpec; varsCreated: boolean }> {
  if (mode === 'legacy') return { spec: { mode: 'legacy' }, varsCreated: false };
  const files = await locateOvmf(mode, firmwareDir);
  const vars = join(storageDir, VARS_FILE[mode]);
  let varsCreated: boolean;
  try {
    // An existing store is the guest's (boot entries, enrolled keys): never replaced. A copy cut
    // short by a crash never takes its name, so the next start copies again.
    varsCreated = await copyFileOnce(files.varsTemplate, vars, 0o644);
  } catch (error) {
    throw new AppError('media', `cannot copy the UEFI variable store ${files.varsTemplate} to ${vars}`, {
      hint: 'Check that STORAGE is writable and has free space.',
      cause: error,
    });
  }
  return { spec: { mode, code: files.code, vars }, varsCreated };
}

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}
