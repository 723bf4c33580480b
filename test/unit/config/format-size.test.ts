import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from '../../../src/config/parsers.js';

const K = 2 ** 10;
const M = 2 ** 20;
const G = 2 ** 30;

describe('formatSize', () => {
  it.each([
    [64 * G, '64G'],
    [2 * 2 ** 40, '2T'],
    [1536 * M, '1536M'],
    [512 * M, '512M'],
    [64 * K, '64K'],
    [100, '100 bytes'],
    [2 * G + K, '2097153K (about 2.0G)'],
    [1.5 * G + 1, '1610612737 bytes (about 1.5G)'],
  ])('%d bytes → %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));

  it.each([64 * G, 1536 * M, 64 * K, 2 * G + K])('its exact part parses back to the same %d bytes', (bytes) => {
    const exact = formatSize(bytes).split(' ')[0]!;
    expect(parseSize(exact, 'DISK_SIZE'), `${bytes} was written ${formatSize(bytes)}`).toBe(bytes);
  });
});
