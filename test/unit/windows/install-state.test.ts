import { describe, expect, it } from 'vitest';
import { downloadedIsoToRemove, planWindowsMedia, recordInstallDone, recordMediaAttached } from '../../../src/windows/install-state.js';
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
