import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { parseBool, parseMac, parsePortList, parseSize, parseWords } from '../../../src/config/parsers.js';

function configError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(2);
    return error as AppError;
  }
  throw new Error('expected a configuration error');
}

describe('parseSize', () => {
  it.each([
    ['512M', 512 * 2 ** 20],
    ['4G', 4 * 2 ** 30],
    ['4g', 4 * 2 ** 30],
    ['4GB', 4 * 2 ** 30],
    ['4 GiB', 4 * 2 ** 30],
    ['1.5T', 1.5 * 2 ** 40],
    ['64K', 64 * 1024],
  ])('%s is %d bytes', (raw, bytes) => expect(parseSize(raw, 'RAM_SIZE')).toBe(bytes));

  it.each(['lots', '4 gigs', '', '4096', '-1G', '0G', 'G', '4X'])('refuses %j, naming the variable and the form', (raw) => {
    const error = configError(() => parseSize(raw, 'RAM_SIZE'));
    expect(error.message).toBe(`RAM_SIZE must be a size such as "512M", "4G" or "1T", got ${JSON.stringify(raw)}`);
  });
});

describe('parseBool', () => {
  it.each(['Y', 'y', 'yes', 'true', '1', 'on'])('%s is true', (raw) => expect(parseBool(raw, 'KVM')).toBe(true));
  it.each(['N', 'n', 'no', 'false', '0', 'off'])('%s is false', (raw) => expect(parseBool(raw, 'KVM')).toBe(false));
  it('refuses maybe', () => expect(configError(() => parseBool('maybe', 'KVM')).message).toBe('KVM must be "Y" or "N", got "maybe"'));
});

describe('parsePortList', () => {
  it('reads single ports, ranges and protocols', () => {
    expect(parsePortList('80, 443,5900-5910/tcp 53/udp', 'HOST_PORTS')).toEqual([
      { from: 80, to: 80, protocol: 'both' },
      { from: 443, to: 443, protocol: 'both' },
      { from: 5900, to: 5910, protocol: 'tcp' },
      { from: 53, to: 53, protocol: 'udp' },
    ]);
  });
  it.each(['0', '70000', '10-5', 'http', '80/sctp'])('refuses %j', (raw) => {
    expect(configError(() => parsePortList(raw, 'HOST_PORTS')).message).toMatch(/^HOST_PORTS must be a comma-separated list of ports/);
  });
});

describe('parseWords (ARGUMENTS)', () => {
  it('splits on whitespace and honours quotes and escapes, expanding nothing', () => {
    expect(parseWords(`-device "virtio-gpu, x" -fw_cfg name=opt/a,string='$HOME; rm -rf /' a\\ b`, 'ARGUMENTS')).toEqual([
      '-device',
      'virtio-gpu, x',
      '-fw_cfg',
      'name=opt/a,string=$HOME; rm -rf /',
      'a b',
    ]);
  });
  it('keeps an empty quoted word', () => expect(parseWords(`a "" b`, 'ARGUMENTS')).toEqual(['a', '', 'b']));
  it('refuses unbalanced quotes', () => {
    expect(configError(() => parseWords('-name "oops', 'ARGUMENTS')).message).toMatch(/ARGUMENTS must be QEMU arguments with balanced quotes/);
  });
});

describe('parseMac', () => {
  it('normalises case and dashes', () => expect(parseMac('02-AB-cd-00-11-22', 'MAC')).toBe('02:ab:cd:00:11:22'));
  it('refuses a multicast address', () => expect(configError(() => parseMac('03:00:00:00:00:01', 'MAC')).message).toMatch(/unicast/));
  it('refuses garbage', () => expect(configError(() => parseMac('nope', 'MAC')).message).toMatch(/MAC must be a MAC address/));
});
