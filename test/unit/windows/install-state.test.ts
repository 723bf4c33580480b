import { describe, expect, it } from 'vitest';
import { planWindowsMedia, recordInstallDone, recordMediaAttached } from '../../../src/windows/install-state.js';

describe('planWindowsMedia', () => {
  it('new disk: media first, setup image, keys pressed, recorded', () => {
    expect(planWindowsMedia({ install: undefined, diskCreated: true, diskPartitioned: false, manual: false })).toMatchObject({
      attachInstallMedia: true, installMediaFirst: true, attachSetupImage: true, pressBootKeys: true, recordMediaAttached: true,
    });
  });

  it('MANUAL=Y: media boots, no answer file', () => {
    expect(planWindowsMedia({ install: undefined, diskCreated: true, diskPartitioned: false, manual: true })).toMatchObject({ attachInstallMedia: true, attachSetupImage: false });
  });

  it('install done: nothing attached, ever again', () => {
    const plan = planWindowsMedia({ install: { mediaAttached: false, bootedFromDisk: true, completedAt: '2025-01-01T00:00:00.000Z' }, diskCreated: false, diskPartitioned: true, manual: false });
    expect(plan).toMatchObject({ attachInstallMedia: false, attachSetupImage: false, pressBootKeys: false });
    expect(plan.reason).toContain('installed');
  });

  it('an existing disk without install record is never reinstalled over', () => {
    expect(planWindowsMedia({ install: undefined, diskCreated: false, diskPartitioned: true, manual: false })).toMatchObject({ attachInstallMedia: false, pressBootKeys: false });
    expect(planWindowsMedia({ install: undefined, diskCreated: false, diskPartitioned: false, manual: false }).attachInstallMedia).toBe(false);
  });

  it('interrupted install: before Setup wrote to the disk the DVD boots again; after, the disk boots first and no key is pressed', () => {
    const install = { mediaAttached: true, bootedFromDisk: false };
    expect(planWindowsMedia({ install, diskCreated: false, diskPartitioned: false, manual: false })).toMatchObject({ attachInstallMedia: true, installMediaFirst: true, pressBootKeys: true, attachSetupImage: true });
    expect(planWindowsMedia({ install, diskCreated: false, diskPartitioned: true, manual: false })).toMatchObject({ attachInstallMedia: true, installMediaFirst: false, pressBootKeys: false, attachSetupImage: true });
  });

  it('records completion once, keeping the first date', () => {
    const first = recordInstallDone(recordMediaAttached({ schema: 1 }), new Date('2025-01-01T00:00:00Z'));
    expect(first.install).toEqual({ mediaAttached: false, bootedFromDisk: true, completedAt: '2025-01-01T00:00:00.000Z' });
    expect(recordInstallDone(first, new Date('2026-01-01T00:00:00Z'))).toBe(first);
    expect(recordMediaAttached({ schema: 1 }).install).toEqual({ mediaAttached: true, bootedFromDisk: false });
  });
});
