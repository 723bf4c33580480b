/**
 * The firmware's word on what it booted, against console output recorded from real QEMU runs
 * (test/unit/windows/recordings, made by record.sh there): OVMF starting a "Windows Boot Manager"
 * option from a hard-drive device path (a real boot entry written into OVMF's variable store,
 * test/fixtures/ovmf-vars.ts), OVMF starting a DVD, SeaBIOS booting the disk, SeaBIOS booting a CD,
 * SeaBIOS falling through from an unbootable CD to the disk, and, with the disk first, from a blank
 * disk to a CD, and a disk whose MBR code prints an error (test/fixtures/bios-boot.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FirmwareBootWatch, parseFirmwareLine, SEABIOS_DISK_CONFIRM_MS, startsWindowsFromDisk, type FirmwareFact } from '../../../src/windows/firmware-boot.js';

const recording = (name: string) => readFileSync(new URL(`./recordings/${name}`, import.meta.url), 'latin1');
const lines = (text: string) => text.split(/\r\n|\r|\n/);
const NOW = new Date('2026-12-01T12:00:00.000Z');

function watch(text: string, installed = false): { facts: FirmwareFact[]; watcher: FirmwareBootWatch } {
  const watcher = new FirmwareBootWatch({ installed });
  const facts = lines(text).flatMap((line) => watcher.feed(line, NOW));
  return { facts, watcher };
}

describe('parseFirmwareLine', () => {
  it('reads OVMF BdsDxe lines: step, option, entry, device path, failure reason', () => {
    const all = lines(recording('ovmf-windows-boot-manager-hd.serial.log')).map(parseFirmwareLine).filter(Boolean);
    expect(all).toEqual([
      { firmware: 'ovmf', step: 'loading', option: 'Boot0004', entry: 'Windows Boot Manager', devicePath: 'HD(1,MBR,0x57444B31,0x800,0x1E800)/\\EFI\\BOOT\\BOOTX64.EFI' },
      { firmware: 'ovmf', step: 'starting', option: 'Boot0004', entry: 'Windows Boot Manager', devicePath: 'HD(1,MBR,0x57444B31,0x800,0x1E800)/\\EFI\\BOOT\\BOOTX64.EFI' },
    ]);
    const secure = lines(recording('ovmf-secure-unsigned-cdrom.serial.log')).map(parseFirmwareLine).filter(Boolean);
    expect(secure[1]).toEqual({ firmware: 'ovmf', step: 'failed to load', option: 'Boot0001', entry: 'UEFI QEMU DVD-ROM QM00001', devicePath: 'PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)', reason: 'Access Denied' });
  });

  it('reads SeaBIOS lines: the device it boots, and a failed boot', () => {
    const all = lines(recording('seabios-sercon-cd-failed-hard-disk.serial.log')).map(parseFirmwareLine).filter(Boolean);
    expect(all).toEqual([
      { firmware: 'seabios', step: 'booting', device: 'DVD/CD' },
      { firmware: 'seabios', step: 'failed', reason: 'Could not read from CDROM (code 0004)' },
      { firmware: 'seabios', step: 'booting', device: 'Hard Disk' },
    ]);
  });

  it('only "starting" Windows Boot Manager from an HD() path counts; its name elsewhere, or loading only, does not', () => {
    const line = (text: string) => startsWindowsFromDisk(parseFirmwareLine(text)!);
    expect(line('BdsDxe: starting Boot0004 "Windows Boot Manager" from HD(2,GPT,3F1C5A3E-0D3B-4D43-9E2B-2A33B4C5D6E7,0x1000,0x32000)/\\EFI\\Microsoft\\Boot\\bootmgfw.efi')).toBe(true);
    expect(line('BdsDxe: starting Boot0004 "Windows Boot Manager" from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)/HD(2,GPT,3F1C5A3E-0D3B-4D43-9E2B-2A33B4C5D6E7,0x1000,0x32000)/\\EFI\\Microsoft\\Boot\\bootmgfw.efi')).toBe(true);
    expect(line('BdsDxe: loading Boot0004 "Windows Boot Manager" from HD(1,MBR,0x57444B31,0x800,0x1E800)/\\EFI\\BOOT\\BOOTX64.EFI')).toBe(false);
    expect(line('BdsDxe: failed to load Boot0004 "Windows Boot Manager" from HD(1,MBR,0x57444B31,0x800,0x1E800)/\\EFI\\BOOT\\BOOTX64.EFI: Not Found')).toBe(false);
    // The setup DVD's own loader is no Windows on the disk, nor is the disk's auto-created option.
    expect(line('BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM QM00001 " from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)')).toBe(false);
    expect(line('BdsDxe: starting Boot0002 "UEFI QEMU HARDDISK QM00003 " from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x2,0xFFFF,0x0)')).toBe(false);
    expect(parseFirmwareLine('windock-guest: Windows Boot Manager')).toBeUndefined();
  });
});

describe('FirmwareBootWatch on recorded consoles', () => {
  it('OVMF: the recorded "Windows Boot Manager" start from the disk is the install done, with its line as evidence', () => {
    const { facts, watcher } = watch(recording('ovmf-windows-boot-manager-hd.serial.log'));
    expect(facts).toEqual([
      { kind: 'windows-from-disk', record: { firmware: 'ovmf', at: NOW.toISOString(), line: 'BdsDxe: starting Boot0004 "Windows Boot Manager" from HD(1,MBR,0x57444B31,0x800,0x1E800)/\\EFI\\BOOT\\BOOTX64.EFI' } },
    ]);
    expect(watcher.inSetup).toBe(false);
  });

  it('OVMF starting the setup DVD: WinPE phase (the guest ignores the power button), not installed', () => {
    const { facts, watcher } = watch(recording('ovmf-uefi-cdrom.serial.log'));
    expect(facts.map((f) => f.kind)).toEqual(['setup-started']);
    expect(watcher.inSetup).toBe(true);
  });

  it('the DVD, then Windows Boot Manager from the disk (Setup\'s first reboot): out of WinPE, installed once', () => {
    const text = `${recording('ovmf-uefi-cdrom.serial.log')}\n${recording('ovmf-windows-boot-manager-hd.serial.log')}\n${recording('ovmf-uefi-cdrom.serial.log')}\n${recording('ovmf-windows-boot-manager-hd.serial.log')}`;
    const { facts, watcher } = watch(text);
    expect(facts.map((f) => f.kind)).toEqual(['setup-started', 'windows-from-disk']);
    expect(watcher.inSetup).toBe(false);
  });

  it('SeaBIOS: "Booting from Hard Disk..." is a candidate that counts once the guest resets or it stood long enough unrefused; "Booting from DVD/CD..." is Setup', () => {
    const disk = watch(recording('seabios-sercon-hard-disk.serial.log'));
    expect(disk.facts).toEqual([{ kind: 'disk-started', line: 'Booting from Hard Disk...' }]);
    expect(disk.watcher.pending).toBe(true);
    // Not yet: it has not stood SEABIOS_DISK_CONFIRM_MS.
    expect(disk.watcher.settle(new Date(NOW.getTime() + SEABIOS_DISK_CONFIRM_MS - 1))).toEqual([]);
    expect(disk.watcher.settle(new Date(NOW.getTime() + SEABIOS_DISK_CONFIRM_MS))).toEqual([
      { kind: 'windows-from-disk', record: { firmware: 'seabios', at: NOW.toISOString(), line: 'Booting from Hard Disk...' } },
    ]);
    expect(disk.watcher.settle(new Date(NOW.getTime() + 2 * SEABIOS_DISK_CONFIRM_MS)), 'once').toEqual([]);
    // The guest reset after running from the disk (Setup's next reboot): counts at once.
    const reset = watch(`${recording('seabios-sercon-hard-disk.serial.log')}\n${recording('seabios-sercon-hard-disk.serial.log')}`);
    expect(reset.facts.map((f) => f.kind)).toEqual(['disk-started', 'windows-from-disk']);
    const cd = watch(recording('seabios-sercon-cdrom.serial.log'));
    expect(cd.facts.map((f) => f.kind)).toEqual(['setup-started']);
    expect(cd.watcher.inSetup).toBe(true);
    // The CD failed to boot and SeaBIOS went on to the disk: the CD is not what booted.
    const fellThrough = watch(recording('seabios-sercon-cd-failed-hard-disk.serial.log'));
    expect(fellThrough.facts.map((f) => f.kind)).toEqual(['setup-started', 'disk-started']);
  });

  it('SeaBIOS, disk first: a blank disk is refused by SeaBIOS itself, the CD boots Setup, nothing is recorded', () => {
    const { facts, watcher } = watch(recording('seabios-sercon-blank-disk-then-cd.serial.log'));
    expect(facts).toEqual([
      { kind: 'disk-started', line: 'Booting from Hard Disk...' },
      { kind: 'disk-not-bootable', line: 'Boot failed: not a bootable disk', bootCode: false },
      { kind: 'setup-started', line: 'Booting from DVD/CD...' },
    ]);
    expect(watcher.pending).toBe(false);
    expect(watcher.settle(new Date(NOW.getTime() + 10 * SEABIOS_DISK_CONFIRM_MS))).toEqual([]);
    expect(watcher.inSetup).toBe(true);
  });

  it('SeaBIOS, disk first: a disk whose own boot code prints its error (Setup partitioned it, did not finish) is no install', () => {
    const { facts, watcher } = watch(recording('seabios-sercon-disk-boot-code-fails.serial.log'));
    expect(facts).toEqual([
      { kind: 'disk-started', line: 'Booting from Hard Disk...' },
      { kind: 'disk-not-bootable', line: 'Missing operating system', bootCode: true },
    ]);
    expect(watcher.settle(new Date(NOW.getTime() + 10 * SEABIOS_DISK_CONFIRM_MS))).toEqual([]);
    // What Windows' boot sectors print, and a disk whose MBR code hands back (int 18h): SeaBIOS goes on.
    for (const refusal of ['BOOTMGR is missing', 'NTLDR is missing', 'A disk read error occurred', 'Invalid partition table', 'Booting from DVD/CD...']) {
      const w = new FirmwareBootWatch({ installed: false });
      w.feed('Booting from Hard Disk...', NOW);
      expect(w.feed(refusal, NOW).map((f) => f.kind), refusal).toEqual(refusal.startsWith('Booting') ? ['disk-not-bootable', 'setup-started'] : ['disk-not-bootable']);
      expect(w.settle(new Date(NOW.getTime() + SEABIOS_DISK_CONFIRM_MS)), refusal).toEqual([]);
    }
  });

  it('already installed: reports nothing and is never in WinPE', () => {
    const { facts, watcher } = watch(`${recording('ovmf-uefi-cdrom.serial.log')}\n${recording('ovmf-windows-boot-manager-hd.serial.log')}`, true);
    expect(facts).toEqual([]);
    expect(watcher.inSetup).toBe(false);
  });
});
