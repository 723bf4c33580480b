/** The pure decisions of the ESD conversion: which image is the edition, the space it needs, the ISO's argv. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { checkEsdSpace, editionImage, esdSpaceNeeded, genisoimageArgs } from '../../../src/windows/esd-convert.js';
import type { WimImage } from '../../../src/windows/wim-metadata.js';

const image = (index: number, name: string, editionId?: string): WimImage => ({
  index, name, description: name, flags: editionId, editionId, installationType: editionId ? 'Client' : undefined,
  languages: [], defaultLanguage: undefined, arch: 'amd64', version: undefined,
});
const SETUP = [image(1, 'Windows Setup Media'), image(2, 'Microsoft Windows PE (amd64)'), image(3, 'Microsoft Windows Setup (amd64)')];
const CONSUMER = [...SETUP, image(4, 'Windows 11 Home', 'Core'), image(5, 'Windows 11 Pro N', 'ProfessionalN'), image(6, 'Windows 11 Pro', 'Professional')];

describe('editionImage', () => {
  it('finds the entry\'s edition by name among the images after Setup\'s three (Pro, not Pro N)', () => {
    expect(editionImage(CONSUMER, 'Pro', 'Professional')).toMatchObject({ index: 6, name: 'Windows 11 Pro' });
  });

  it('falls back to the catalog\'s Edition as EDITIONID when no name matches', () => {
    const renamed = [...SETUP, image(4, 'Windows 11 Enterprise N', 'EnterpriseN'), image(5, 'Enterprise edition', 'Enterprise')];
    expect(editionImage(renamed, 'Enterprise LTSC', 'Enterprise')).toMatchObject({ index: 5 });
  });

  it('never takes one of Setup\'s images, and says which images there are', () => {
    expect(editionImage([...SETUP, image(4, 'Windows 11 Home', 'Core')], 'Pro', 'Professional')).toBe('no image is Pro (images: 4 Windows 11 Home)');
    expect(editionImage(SETUP, 'Pro', 'Professional')).toBe('no image is Pro (images: none after the first three)');
    expect(editionImage([image(1, 'Windows 11 Pro', 'Professional')], 'Pro', 'Professional')).toBe('it holds 1 images; a catalog ESD has Setup\'s three, then the editions');
  });
});

describe('space', () => {
  it('asks 2.5 × the ESD on top of what of the ESD is not downloaded yet', () => {
    expect(esdSpaceNeeded(4_000_000_000, 4_000_000_000)).toBe(10_000_000_000);
    expect(esdSpaceNeeded(4_000_000_000, 1_000_000_000)).toBe(13_000_000_000);
    expect(esdSpaceNeeded(4_000_000_000, 0)).toBe(14_000_000_000);
  });

  it('refuses naming the bytes needed and free', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'windock-esd-space-'));
    try {
      const error = await checkEsdSpace(dir, 2 ** 52, 0).catch((e: unknown) => e);
      expect(error, String(error)).toBeInstanceOf(AppError);
      expect((error as AppError).message).toMatch(new RegExp(`^STORAGE ${dir} has \\d+ bytes free; building an ISO from a ${2 ** 52}-byte ESD needs ${esdSpaceNeeded(2 ** 52, 0)} `));
      await expect(checkEsdSpace(dir, 1024, 1024)).resolves.toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('genisoimageArgs', () => {
  it('makes BIOS (no emulation, 8 sectors) and UEFI El Torito entries, Joliet and UDF, with the language in the label', () => {
    const argv = genisoimageArgs('/t', '/o.iso', 'de-de');
    const after = (flag: string) => argv[argv.indexOf(flag) + 1];
    expect([after('-b'), after('-boot-load-size'), after('-e'), after('-V'), argv.at(-1)]).toEqual(['boot/etfsboot.com', '8', 'efi/microsoft/boot/efisys.bin', 'CCCOMA_X64FRE_DE-DE_DV9', '/t']);
    expect(argv.filter((a) => a === '-no-emul-boot')).toHaveLength(2);
    for (const flag of ['-udf', '-J', '-joliet-long', '-allow-limited-size', '-eltorito-alt-boot']) expect(argv, flag).toContain(flag);
  });
});
