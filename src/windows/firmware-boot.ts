/**
 * The firmware's own word on what it booted, read from the serial console. Windows counts as
 * installed once the firmware starts Windows from the system disk — not when the guest first
 * answers on RDP: Setup's WinPE phase partitions the disk long before Windows can answer, and an
 * install stopped in between leaves a disk that never boots (issue 12, point 3).
 *
 * What the firmware prints (recorded under QEMU 7.2 with Debian's OVMF and SeaBIOS; the
 * recordings are in test/unit/windows/recordings, record.sh makes them):
 *  - OVMF's BdsDxe, for every boot option it tries:
 *      BdsDxe: loading Boot0004 "Windows Boot Manager" from HD(1,MBR,0x57444B31,0x800,0x1E800)/\EFI\BOOT\BOOTX64.EFI
 *      BdsDxe: starting Boot0004 "Windows Boot Manager" from HD(1,MBR,0x57444B31,0x800,0x1E800)/\EFI\BOOT\BOOTX64.EFI
 *    "Windows Boot Manager" is the description bcdboot gives the option it creates at the end of
 *    Setup's WinPE phase, on a hard-drive device path (`HD(partition,GPT|MBR,signature,start,size)`,
 *    UEFI spec §10.3.5.1); "starting" follows a successful LoadImage, so the loader is on the disk.
 *  - SeaBIOS (with its serial console, fw_cfg etc/sercon-port) prints one line per device it
 *    tries: `Booting from DVD/CD...`, `Boot failed: Could not read from CDROM (code 0004)`,
 *    `Booting from Hard Disk...`. A CD that booted never hands back to SeaBIOS, so a
 *    `Booting from Hard Disk...` line means the setup CD is not what booted this time.
 *
 * Pure: lines in, facts out.
 */
import { stripAnsi } from '../qemu/console-text.js';

export type FirmwareLine =
  | { firmware: 'ovmf'; step: 'loading' | 'starting' | 'failed to load' | 'failed to start'; option: string; entry: string; devicePath: string; reason?: string }
  | { firmware: 'seabios'; step: 'booting'; device: string }
  | { firmware: 'seabios'; step: 'failed'; reason: string };

/** The description Windows' bcdboot gives its UEFI boot option. */
export const WINDOWS_BOOT_MANAGER = 'Windows Boot Manager';

// The failure reason follows ": " after the device path (an EFI_STATUS text such as "Not Found").
const OVMF = /BdsDxe: (loading|starting|failed to load|failed to start) (Boot[0-9A-F]{4}) "([^"]*)" from (.+?)(?:: ([A-Z][A-Za-z ]+))?$/;
const SEABIOS_BOOTING = /^Booting from (.+?)\.\.\.$/;
const SEABIOS_FAILED = /^Boot failed: (.+)$/;
/** An OVMF hard-drive media node, short form (`HD(…)` first) or inside a full path (`…/HD(…)`). */
const HARD_DRIVE_NODE = /(?:^|\/)HD\(\d+,(?:GPT|MBR),/;

export function parseFirmwareLine(raw: string): FirmwareLine | undefined {
  const line = stripAnsi(raw).replace(/[\r\n]+$/, '').trim();
  const ovmf = OVMF.exec(line);
  if (ovmf) {
    const [, step, option = '', entry = '', devicePath = '', reason] = ovmf;
    return { firmware: 'ovmf', step: step as 'loading', option, entry: entry.trim(), devicePath, ...(reason ? { reason } : {}) };
  }
  const booting = SEABIOS_BOOTING.exec(line);
  if (booting) return { firmware: 'seabios', step: 'booting', device: booting[1] ?? '' };
  const failed = SEABIOS_FAILED.exec(line);
  if (failed) return { firmware: 'seabios', step: 'failed', reason: failed[1] ?? '' };
  return undefined;
}

/** An optical drive's boot option, as OVMF names it ("UEFI QEMU DVD-ROM QM00001"). */
export const OPTICAL = /DVD|CD-?ROM/i;

/** The firmware is starting the install media (an optical drive). */
export function startsOpticalMedia(line: FirmwareLine): boolean {
  if (line.firmware === 'ovmf') return line.step === 'starting' && OPTICAL.test(line.entry);
  return line.step === 'booting' && line.device === 'DVD/CD';
}

/** The firmware is starting Windows from the system disk: the install is done. */
export function startsWindowsFromDisk(line: FirmwareLine): boolean {
  if (line.firmware === 'ovmf') return line.step === 'starting' && line.entry === WINDOWS_BOOT_MANAGER && HARD_DRIVE_NODE.test(line.devicePath);
  return line.step === 'booting' && line.device === 'Hard Disk';
}

/** What windock.json keeps of the firmware's word (windows-profile.ts's slice `windowsBoot`). */
export interface WindowsBootRecord {
  firmware: 'ovmf' | 'seabios';
  /** When the line was seen (ISO 8601). */
  at: string;
  /** The firmware's line, without terminal codes: the evidence a user can check. */
  line: string;
}

export type FirmwareFact =
  | { kind: 'setup-started'; line: string }
  | { kind: 'windows-from-disk'; record: WindowsBootRecord };

/**
 * Follows the console across one run: says when the install media starts (Setup's WinPE phase
 * begins) and, once, when the firmware starts Windows from the disk. `installed`: windock.json
 * already records it (then nothing is reported again, and the guest is never in WinPE).
 */
export class FirmwareBootWatch {
  #installed: boolean;
  #setupRunning = false;

  constructor(options: { installed: boolean }) {
    this.#installed = options.installed;
  }

  /**
   * Setup's WinPE phase: the install media started in this run and the firmware has not started
   * Windows from the disk since. WinPE does not act on the ACPI power button.
   */
  get inSetup(): boolean {
    return this.#setupRunning && !this.#installed;
  }

  feed(raw: string, now: Date): FirmwareFact | undefined {
    const parsed = parseFirmwareLine(raw);
    if (!parsed || this.#installed) return undefined;
    const line = stripAnsi(raw).trim();
    if (startsOpticalMedia(parsed)) {
      this.#setupRunning = true;
      return { kind: 'setup-started', line };
    }
    if (startsWindowsFromDisk(parsed)) {
      this.#installed = true;
      return { kind: 'windows-from-disk', record: { firmware: parsed.firmware, at: now.toISOString(), line } };
    }
    return undefined;
  }
}
