import { describe, expect, it } from 'vitest';
import { applyBootOrder, downloadedIsoToRemove, installBootOrder, planWindowsMedia, readsMediaAfterDiskBoot, recordInstallDone, recordMediaAttached } from '../../../src/windows/install-state.js';
import type { DriveSpec } from '../../../src/qemu/vm-spec.js';
import { CATALOG } from '../../../src/windows/catalog.js';
import type { WindowsBootRecord } from '../../../src/windows/firmware-boot.js';

const BOOTED: WindowsBootRecord = { firmware: 'ovmf', at: '2026-01-01T00:00:00.000Z', line: 'BdsDxe: starting Boot0004 "Windows Boot Manager" from HD(1,GPT,x,0x800,0x1000)/\\EFI\\Microsoft\\Boot\\bootmgfw.efi' };

describe('planWindowsMedia', () => {
  it('new disk: media, setup image, keys pressed', () => {
    expect(planWindowsMedia({ install: { mediaAttached: true, bootedFromDisk: false }, windowsBoot: undefined, mediaAttached: true, manual: false })).toMatchObject({
      attachInstallMedia: true, attachSetupImage: true, pressBootKeys: true, installed: false,
    });
  });

  it('MANUAL=Y: media boots, no answer file', () => {
    expect(planWindowsMedia({ install: undefined, windowsBoot: undefined, mediaAttached: true, manual: true })).toMatchObject({ attachInstallMedia: true, attachSetupImage: false, pressBootKeys: true });
  });

  it('an interrupted install (Setup may have partitioned the disk) resumes until the firmware booted Windows: media, answer file and keys again', () => {
    const plan = planWindowsMedia({ install: { mediaAttached: true, bootedFromDisk: false }, windowsBoot: undefined, mediaAttached: true, manual: false });
    expect(plan).toMatchObject({ attachInstallMedia: true, attachSetupImage: true, pressBootKeys: true, installed: false });
    expect(plan.reason).toContain('has not started Windows from this disk');
  });

  it('the firmware started Windows from the disk: nothing attached, ever again, even with the ISO still recorded as attached', () => {
    const plan = planWindowsMedia({ install: { mediaAttached: true, bootedFromDisk: false }, windowsBoot: BOOTED, mediaAttached: true, manual: false });
    expect(plan).toMatchObject({ attachInstallMedia: false, attachSetupImage: false, pressBootKeys: false, installed: true });
    expect(plan.reason).toContain('the firmware (ovmf) started it from the disk at 2026-01-01T00:00:00.000Z');
  });

  it('an install recorded by an older windock (first RDP answer) counts as installed', () => {
    const plan = planWindowsMedia({ install: { mediaAttached: true, bootedFromDisk: true, completedAt: '2025-01-01T00:00:00.000Z' }, windowsBoot: undefined, mediaAttached: true, manual: false });
    expect(plan).toMatchObject({ attachInstallMedia: false, attachSetupImage: false, pressBootKeys: false, installed: true });
  });

  it('an existing disk without install record is never reinstalled over', () => {
    expect(planWindowsMedia({ install: undefined, windowsBoot: undefined, mediaAttached: false, manual: false })).toMatchObject({ attachInstallMedia: false, pressBootKeys: false, installed: false });
  });

  it('records completion once, keeping the first date', () => {
    const first = recordInstallDone(recordMediaAttached({ schema: 1 }), new Date('2025-01-01T00:00:00Z'));
    expect(first.install).toEqual({ mediaAttached: false, bootedFromDisk: true, completedAt: '2025-01-01T00:00:00.000Z' });
    expect(recordInstallDone(first, new Date('2026-01-01T00:00:00Z'))).toBe(first);
    expect(recordMediaAttached({ schema: 1 }).install).toEqual({ mediaAttached: true, bootedFromDisk: false });
  });
});

describe('the install CD of a Setup that reads it after the first boot from the disk (2000, XP, 2003, 9x)', () => {
  const SEABIOS: WindowsBootRecord = { firmware: 'seabios', at: '2026-01-01T00:00:00.000Z', line: 'Booting from Hard Disk...' };

  it('stays attached once installed, without the answer file and without key presses', () => {
    const plan = planWindowsMedia({ install: { mediaAttached: true, bootedFromDisk: true, completedAt: SEABIOS.at }, windowsBoot: SEABIOS, mediaAttached: true, manual: true, keepsMedia: true });
    expect(plan).toMatchObject({ attachInstallMedia: true, attachSetupImage: false, pressBootKeys: false, installed: true });
    expect(plan.reason).toContain('the install CD stays attached behind the disk');
    // Vista on: the media goes.
    expect(planWindowsMedia({ install: undefined, windowsBoot: SEABIOS, mediaAttached: true, manual: false, keepsMedia: false })).toMatchObject({ attachInstallMedia: false, attachSetupImage: false, installed: true });
    // Nothing to keep when the storage stage attached none.
    expect(planWindowsMedia({ install: undefined, windowsBoot: SEABIOS, mediaAttached: false, manual: false, keepsMedia: true })).toMatchObject({ attachInstallMedia: false });
  });

  it('is recorded as attached when the install is done; other families record it detached', () => {
    const attached = recordMediaAttached({ schema: 1 });
    expect(recordInstallDone(attached, new Date(SEABIOS.at), true).install).toEqual({ mediaAttached: true, bootedFromDisk: true, completedAt: SEABIOS.at });
    expect(recordInstallDone(attached, new Date(SEABIOS.at), false).install).toEqual({ mediaAttached: false, bootedFromDisk: true, completedAt: SEABIOS.at });
    expect(recordInstallDone({ schema: 1 }, new Date(SEABIOS.at), true).install?.mediaAttached, 'never attaches media that was not').toBe(false);
  });

  it('an entry decides; media windock cannot name keep their CD under SeaBIOS only', () => {
    expect(readsMediaAfterDiskBoot({ readsMediaAfterDiskBoot: true }, 'legacy')).toBe(true);
    expect(readsMediaAfterDiskBoot({}, 'legacy')).toBe(false);
    expect(readsMediaAfterDiskBoot(undefined, 'legacy')).toBe(true);
    expect(readsMediaAfterDiskBoot(undefined, 'uefi')).toBe(false);
    expect(readsMediaAfterDiskBoot(undefined, 'secure')).toBe(false);
  });

  it('the catalog marks exactly the families before Vista', () => {
    const keeps = CATALOG.filter((e) => e.readsMediaAfterDiskBoot).map((e) => e.key);
    expect(keeps).toEqual(['xp', 'xp64', '2003', '2k', 'me', '98', '95']);
  });
});

describe('installBootOrder / applyBootOrder', () => {
  const drives: DriveSpec[] = [
    { id: 'install', path: '/s/win.iso', format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 1 },
    { id: 'system', path: '/s/data.qcow2', format: 'qcow2', media: 'disk', bus: 'sata', readOnly: false, bootIndex: 2 },
    { id: 'disk2', path: '/s/data2.qcow2', format: 'qcow2', media: 'disk', bus: 'sata', readOnly: false, bootIndex: undefined },
    { id: 'setup', path: '/run/windock-setup.img', format: 'raw', media: 'removable', bus: 'sata', readOnly: true, bootIndex: undefined },
  ];
  const indexes = (list: DriveSpec[]) => Object.fromEntries(list.map((d) => [d.id, d.bootIndex]));

  it('SeaBIOS installing: the disk first, the CD second (a blank disk fails and the CD boots)', () => {
    const order = installBootOrder('legacy', { installed: false });
    expect(order.diskFirst).toBe(true);
    expect(order.reason).toContain('Booting from Hard Disk...');
    expect(indexes(applyBootOrder(drives, order))).toEqual({ install: 2, system: 1, disk2: undefined, setup: undefined });
  });

  it('OVMF installing: the CD first, as before', () => {
    for (const firmware of ['uefi', 'secure'] as const) {
      const order = installBootOrder(firmware, { installed: false });
      expect(order.diskFirst, firmware).toBe(false);
      expect(indexes(applyBootOrder(drives, order))).toEqual({ install: 1, system: 2, disk2: undefined, setup: undefined });
    }
  });

  it('installed (a CD kept for its Setup): the disk first whatever the firmware', () => {
    for (const firmware of ['legacy', 'uefi', 'secure'] as const) expect(installBootOrder(firmware, { installed: true }).diskFirst, firmware).toBe(true);
  });
});

describe('downloadedIsoToRemove (REMOVE=Y)', () => {
  const downloaded = { schema: 1 as const, media: { source: 'https://software.example/Win11_24H2_English_x64.iso', kind: 'iso', path: '/storage/Win11_24H2_English_x64.iso' } };
  it('names the ISO windock downloaded into STORAGE', () => {
    expect(downloadedIsoToRemove(downloaded, '/storage', undefined, undefined)).toBe('/storage/Win11_24H2_English_x64.iso');
    expect(downloadedIsoToRemove(downloaded, '/storage/', undefined, undefined)).toBe('/storage/Win11_24H2_English_x64.iso');
    // A disk made again from the download kept from before: the source is its path, the download record names it.
    const reused = { schema: 1 as const, media: { source: '/storage/Win11_24H2_English_x64.iso', kind: 'iso', path: '/storage/Win11_24H2_English_x64.iso' } };
    expect(downloadedIsoToRemove(reused, '/storage', undefined, 'Win11_24H2_English_x64.iso')).toBe('/storage/Win11_24H2_English_x64.iso');
    expect(downloadedIsoToRemove(reused, '/storage', undefined, 'other.iso')).toBeUndefined();
  });
  it("never a user's ISO: /boot.iso, /custom.iso, BOOT, a path source, a file outside STORAGE, a disk image", () => {
    expect(downloadedIsoToRemove({ schema: 1, media: { source: '/boot.iso', kind: 'iso', path: '/boot.iso' } }, '/storage', undefined, undefined)).toBeUndefined();
    expect(downloadedIsoToRemove({ schema: 1, media: { source: '/custom.iso', kind: 'iso', path: '/custom.iso' } }, '/storage', undefined, undefined)).toBeUndefined();
    expect(downloadedIsoToRemove({ schema: 1, media: { source: '/storage/mine.iso', kind: 'iso', path: '/storage/mine.iso' } }, '/storage', undefined, undefined)).toBeUndefined();
    expect(downloadedIsoToRemove(downloaded, '/storage', 'https://x/y.iso', undefined)).toBeUndefined();
    expect(downloadedIsoToRemove({ schema: 1, media: { ...downloaded.media, path: '/elsewhere/Win11.iso' } }, '/storage', undefined, undefined)).toBeUndefined();
    expect(downloadedIsoToRemove({ schema: 1, media: { ...downloaded.media, kind: 'disk' } }, '/storage', undefined, undefined)).toBeUndefined();
    expect(downloadedIsoToRemove({ schema: 1 }, '/storage', undefined, undefined)).toBeUndefined();
  });
});
