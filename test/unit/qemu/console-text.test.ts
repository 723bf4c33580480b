import { describe, expect, it } from 'vitest';
import { cleanConsoleLine, stripAnsi } from '../../../src/qemu/console-text.js';

describe('console text', () => {
  it('strips ANSI codes, including cursor moves inside words', () => {
    expect(stripAnsi('boo\x1b[25;03H\x1b[25;04Ht: \x1b[0m\x1bc')).toBe('boot: ');
  });

  it('strips colours, modes, character sets and the two-byte escapes, keeping the text', () => {
    expect(stripAnsi('\x1b[1;37;40mBdsDxe\x1b[0m: \x1b[?25lok\x1b(B\x1b7\x1b8\x1b=\x1b>')).toBe('BdsDxe: ok');
  });

  it('keeps control characters in stripAnsi, and removes them with CR and trailing blanks in a line', () => {
    expect(stripAnsi('a\rb\x07')).toBe('a\rb\x07');
    expect(cleanConsoleLine('\x1b[2J\x1b[01;01HBooting from DVD/CD...\x07   \r')).toBe('Booting from DVD/CD...');
    expect(cleanConsoleLine('tab\tstays')).toBe('tab\tstays');
  });
});
