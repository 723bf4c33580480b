import { describe, expect, it } from 'vitest';
import { chooseBootMode } from '../../../src/storage/firmware.js';

describe('chooseBootMode', () => {
  it('follows an explicit BOOT_MODE and warns when it contradicts the recorded mode', () => {
    const d = chooseBootMode({ explicit: 'legacy', recorded: 'uefi', disk: 'existing' });
    expect(d.mode).toBe('legacy');
    expect(d.warning).toMatch(/BOOT_MODE=uefi/);
  });
  it('does not warn when uefi and secure are swapped (both UEFI)', () => {
    const d = chooseBootMode({ explicit: 'secure', recorded: 'uefi', disk: 'existing' });
    expect(d).toEqual({ mode: 'secure', reason: 'BOOT_MODE is set' });
  });
  it('keeps the recorded mode of an existing disk', () => {
    expect(chooseBootMode({ explicit: undefined, recorded: 'legacy', disk: 'existing' }).mode).toBe('legacy');
    expect(chooseBootMode({ explicit: undefined, recorded: 'secure', disk: 'image', partitionScheme: 'mbr' }).mode).toBe('secure');
  });
  it('uses UEFI for a new disk', () => {
    expect(chooseBootMode({ explicit: undefined, recorded: undefined, disk: 'new' }).mode).toBe('uefi');
  });
  it('reads the partition scheme of an unrecorded disk', () => {
    expect(chooseBootMode({ explicit: undefined, recorded: undefined, disk: 'image', partitionScheme: 'gpt' }).mode).toBe('uefi');
    expect(chooseBootMode({ explicit: undefined, recorded: undefined, disk: 'existing', partitionScheme: 'mbr' }).mode).toBe('legacy');
  });
  it('falls back to legacy for an image and UEFI for an existing disk with no partition table', () => {
    expect(chooseBootMode({ explicit: undefined, recorded: undefined, disk: 'image', partitionScheme: 'none' }).mode).toBe('legacy');
    expect(chooseBootMode({ explicit: undefined, recorded: undefined, disk: 'existing' }).mode).toBe('uefi');
  });
});
