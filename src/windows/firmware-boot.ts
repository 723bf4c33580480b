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
 *    `Booting from Hard Disk...` line means the setup CD is not what booted this time. It is
 *    printed *before* SeaBIOS reads the disk, though: a blank disk follows it with
 *    `Boot failed: not a bootable disk`, and a disk whose MBR code finds no active partition hands
 *    back (int 18h) and SeaBIOS goes on to `Booting from DVD/CD...`. A disk Setup partitioned but
 *    did not finish has boot code that prints its own error (`BOOTMGR is missing`, `Missing
 *    operating system`, ...), which the serial console mirrors as it mirrors every int 10h text.
 *    So the SeaBIOS line is only a candidate: it counts once the guest resets after it (Setup's
 *    next reboot) or it has stood for SEABIOS_DISK_CONFIRM_MS without any of those refusals.
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
  /** SeaBIOS handed the machine to the disk's boot code; it counts once confirmed (see the header). */
  | { kind: 'disk-started'; line: string }
  /**
   * The disk did not boot after all: SeaBIOS found no boot signature or went on to the next
   * device (`bootCode: false`), or the disk's own boot code printed its error (`bootCode: true`:
   * a disk Setup partitioned but did not finish).
   */
  | { kind: 'disk-not-bootable'; line: string; bootCode: boolean }
  | { kind: 'windows-from-disk'; record: WindowsBootRecord };

/**
 * How long a SeaBIOS `Booting from Hard Disk...` must stand without a refusal to count. The
 * refusals come from a few sectors of boot code (MBR, boot sector, a look for BOOTMGR or NTLDR):
 * seconds even under TCG; Windows itself prints nothing on this console.
 */
export const SEABIOS_DISK_CONFIRM_MS = 30_000;

/** SeaBIOS's banner: printed at every reset. */
const SEABIOS_BANNER = /SeaBIOS \(version /;
/**
 * What the boot code of a disk prints when it cannot go on: the Windows MBR, the NTFS/FAT boot
 * sectors of NT 5 and NT 6, and bootmgr/NTLDR's own failures.
 */
const BOOT_CODE_FAILURE = /Invalid partition table|Error loading operating system|Missing operating system|(?:BOOTMGR|NTLDR) is (?:missing|compressed)|A disk read error occurred|Non-system disk or disk error|Disk error|An operating system wasn't found|Windows failed to start|Windows could not start/i;

/**
 * Follows the console across one run: says when the install media starts (Setup's WinPE phase
 * begins) and, once, when the firmware starts Windows from the disk. `installed`: windock.json
 * already records it (then nothing is reported again, and the guest is never in WinPE).
 * `settle(now)` confirms a SeaBIOS disk boot that has stood long enough; call it on a timer after
 * a `disk-started` fact (feed calls it too).
 */
export class FirmwareBootWatch {
  #installed: boolean;
  #setupRunning = false;
  #pending: { record: WindowsBootRecord; since: number } | undefined;
  readonly #confirmMs: number;

  constructor(options: { installed: boolean; confirmMs?: number }) {
    this.#installed = options.installed;
    this.#confirmMs = options.confirmMs ?? SEABIOS_DISK_CONFIRM_MS;
  }

  /**
   * Setup's WinPE phase: the install media started in this run and the firmware has not started
   * Windows from the disk since. WinPE does not act on the ACPI power button.
   */
  get inSetup(): boolean {
    return this.#setupRunning && !this.#installed;
  }

  /** A SeaBIOS disk boot waits for its confirmation. */
  get pending(): boolean {
    return this.#pending !== undefined;
  }

  feed(raw: string, now: Date): FirmwareFact[] {
    if (this.#installed) return [];
    const line = stripAnsi(raw).replace(/[\r\n]+$/, '').trim();
    const facts = this.settle(now);
    if (this.#pending) {
      // The guest reset after running from the disk: its boot code did not refuse.
      if (SEABIOS_BANNER.test(line)) return [...facts, ...this.#confirm()];
      if (BOOT_CODE_FAILURE.test(line)) return [...facts, this.#refuse(line, true)];
    }
    const parsed = parseFirmwareLine(raw);
    if (!parsed) return facts;
    if (this.#pending && parsed.firmware === 'seabios') facts.push(this.#refuse(line, false));
    if (startsOpticalMedia(parsed)) {
      this.#setupRunning = true;
      facts.push({ kind: 'setup-started', line });
    } else if (startsWindowsFromDisk(parsed)) {
      const record: WindowsBootRecord = { firmware: parsed.firmware, at: now.toISOString(), line };
      if (parsed.firmware === 'ovmf') {
        this.#installed = true;
        facts.push({ kind: 'windows-from-disk', record });
      } else {
        this.#pending = { record, since: now.getTime() };
        facts.push({ kind: 'disk-started', line });
      }
    }
    return facts;
  }

  /** Confirms a pending SeaBIOS disk boot once it has stood `confirmMs` unrefused. */
  settle(now: Date): FirmwareFact[] {
    if (!this.#pending || this.#installed || now.getTime() - this.#pending.since < this.#confirmMs) return [];
    return this.#confirm();
  }

  #confirm(): FirmwareFact[] {
    const pending = this.#pending;
    this.#pending = undefined;
    if (!pending) return [];
    this.#installed = true;
    return [{ kind: 'windows-from-disk', record: pending.record }];
  }

  #refuse(line: string, bootCode: boolean): FirmwareFact {
    this.#pending = undefined;
    return { kind: 'disk-not-bootable', line, bootCode };
  }
}
