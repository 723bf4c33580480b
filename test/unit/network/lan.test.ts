import { describe, expect, it } from 'vitest';
import { parseDeviceNumbers } from '../../../src/network/lan.js';

describe('parseDeviceNumbers', () => {
  it("reads sysfs's major:minor of a macvtap's character device", () => {
    expect(parseDeviceNumbers('236:1\n')).toEqual({ major: 236, minor: 1 });
  });
  it('refuses anything else', () => {
    expect(parseDeviceNumbers('')).toBeUndefined();
    expect(parseDeviceNumbers('236\n')).toBeUndefined();
    expect(parseDeviceNumbers('a:b')).toBeUndefined();
  });
});
