import { describe, expect, it } from 'vitest';
import { isIso9660, partitionScheme } from '../../../src/storage/partition.js';

function sectors(): Uint8Array {
  return new Uint8Array(1024);
}

describe('partitionScheme', () => {
  it('sees no table on a blank disk', () => {
    expect(partitionScheme(sectors())).toBe('none');
  });
  it('sees an MBR by its boot signature', () => {
    const s = sectors();
    s[510] = 0x55;
    s[511] = 0xaa;
    s[446 + 4] = 0x83;
    expect(partitionScheme(s)).toBe('mbr');
  });
  it('sees GPT by the protective MBR entry or the EFI PART header', () => {
    const protective = sectors();
    protective[510] = 0x55;
    protective[511] = 0xaa;
    protective[446 + 16 + 4] = 0xee;
    expect(partitionScheme(protective)).toBe('gpt');
    const header = sectors();
    header.set(Buffer.from('EFI PART', 'latin1'), 512);
    expect(partitionScheme(header)).toBe('gpt');
  });
});

describe('isIso9660', () => {
  it('checks the CD001 standard identifier', () => {
    expect(isIso9660(Buffer.from('CD001'))).toBe(true);
    expect(isIso9660(Buffer.from('CD00'))).toBe(false);
  });
});
