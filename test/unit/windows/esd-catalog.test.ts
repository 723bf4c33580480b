/** products.xml of Microsoft's ESD catalog: parsing, and the choice of one ESD for an edition and language. */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { chooseEsdFile, parseProductsXml } from '../../../src/windows/esd-catalog.js';
import { resolveLanguage } from '../../../src/windows/languages.js';
import { NoLocalizedMediaError } from '../../../src/windows/microsoft-download.js';

const SHA = (c: string) => c.repeat(40);

/** What `fn` throws (undefined when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** One <File> as products.xml writes it (the recorded shape: PascalCase tags, lower-case LanguageCode). */
const file = (f: { name: string; lang: string; edition: string; arch?: string; size?: string; sha1?: string; path?: string }) => `
          <File id="${f.name}">
            <FileName>${f.name}</FileName>
            <LanguageCode>${f.lang}</LanguageCode>
            <Language>${f.lang}</Language>
            <Edition>${f.edition}</Edition>
            <Architecture>${f.arch ?? 'x64'}</Architecture>
            <Size>${f.size ?? '4567890123'}</Size>
            <Sha1>${f.sha1 ?? SHA('a')}</Sha1>
            <FilePath>${f.path ?? `https://esd.test/files/${f.name}`}</FilePath>
            <Key />
            <Architecture_Loc>%ARCH_64%</Architecture_Loc>
            <Edition_Loc>%BASE_PRO%</Edition_Loc>
            <IsRetailOnly>False</IsRetailOnly>
          </File>`;

const catalog = (files: string) => `\uFEFF<?xml version="1.0" encoding="UTF-8"?>
<MCT>
  <Catalogs>
    <Catalog version="1.4">
      <PublishedMedia id="1" revision="1">
        <Languages><Language id="en-us"><LanguageCode>en-us</LanguageCode></Language></Languages>
        <Files>${files}
        </Files>
      </PublishedMedia>
    </Catalog>
  </Catalogs>
</MCT>`;

const XML = catalog(
  file({ name: 'pro_en-us.esd', lang: 'en-us', edition: 'Professional', sha1: SHA('B') }) +
    file({ name: 'pro_arm64_en-us.esd', lang: 'en-us', edition: 'Professional', arch: 'ARM64', sha1: SHA('c') }) +
    file({ name: 'pro_de-de.esd', lang: 'de-de', edition: 'Professional', sha1: SHA('d') }) +
    file({ name: 'ent_en-us.esd', lang: 'en-us', edition: 'Enterprise', sha1: SHA('e') }) +
    file({ name: 'x86_fr-fr.esd', lang: 'fr-fr', edition: 'Professional', arch: 'x86', sha1: SHA('f') }) +
    // Incomplete Files (no URL, a digest that is not SHA-1, no size) are left out.
    file({ name: 'nopath.esd', lang: 'es-es', edition: 'Professional', path: '' }) +
    file({ name: 'badsha.esd', lang: 'es-es', edition: 'Professional', sha1: 'xyz' }) +
    file({ name: 'nosize.esd', lang: 'es-es', edition: 'Professional', size: '' }),
);

describe('parseProductsXml', () => {
  it('reads every complete File, lower-casing the SHA-1', () => {
    const files = parseProductsXml(XML, 'products.xml');
    expect(files.map((f) => f.fileName)).toEqual(['pro_en-us.esd', 'pro_arm64_en-us.esd', 'pro_de-de.esd', 'ent_en-us.esd', 'x86_fr-fr.esd']);
    expect(files[0]).toEqual({ fileName: 'pro_en-us.esd', languageCode: 'en-us', edition: 'Professional', architecture: 'x64', size: 4567890123, sha1: SHA('b'), url: 'https://esd.test/files/pro_en-us.esd' });
  });

  it('matches tag names case-insensitively', () => {
    const lower = XML.replace(/<(\/?)(File|FileName|LanguageCode|Edition|Architecture|Size|Sha1|FilePath)>/g, (_m, slash: string, tag: string) => `<${slash}${tag.toLowerCase()}>`);
    expect(parseProductsXml(lower, 'products.xml').map((f) => f.fileName)).toContain('ent_en-us.esd');
  });

  it.each([
    ['text that is not XML', 'Sorry, the page you requested cannot be found.'],
    ['XML that is cut off', XML.slice(0, XML.length / 2)],
    ['an empty file', ''],
  ])('refuses %s with an AppError naming the catalog', (_what, text) => {
    const seen = thrown(() => parseProductsXml(text, 'products.xml of windows11'));
    expect(seen, String(seen)).toBeInstanceOf(AppError);
    expect((seen as AppError).message).toMatch(/^the ESD catalog products\.xml of windows11 is not well-formed XML/);
  });

  it('refuses XML that lists no File', () => {
    expect(() => parseProductsXml('<MCT><Catalogs/></MCT>', 'c.xml')).toThrow(/the ESD catalog c\.xml lists no <File> \(root element <MCT>\)/);
  });
});

describe('chooseEsdFile', () => {
  const files = parseProductsXml(XML, 'products.xml');
  const route = (edition: 'Professional' | 'Enterprise') => ({ kind: 'esd', product: 'windows11', edition }) as const;

  it('takes the x64 file of the edition in the language, whatever the case of the culture', () => {
    expect(chooseEsdFile(files, route('Professional'), resolveLanguage('English')).fileName).toBe('pro_en-us.esd');
    expect(chooseEsdFile(files, route('Professional'), resolveLanguage('German')).fileName).toBe('pro_de-de.esd');
    expect(chooseEsdFile(files, route('Enterprise'), resolveLanguage('en-US')).fileName).toBe('ent_en-us.esd');
  });

  it('answers "no media in the language" definitively when the edition exists in other languages only', () => {
    const seen = thrown(() => chooseEsdFile(files, route('Enterprise'), resolveLanguage('German')));
    expect(seen, String(seen)).toBeInstanceOf(NoLocalizedMediaError);
    expect((seen as Error).message).toBe("Microsoft's ESD catalog offers no German (de-DE) download of windows11 Enterprise: languages offered: en-us");
  });

  it('does not take another architecture for x64 (French exists for x86 only)', () => {
    expect(() => chooseEsdFile(files, route('Professional'), resolveLanguage('French'))).toThrow(NoLocalizedMediaError);
  });

  it('names the editions listed when the edition is missing altogether', () => {
    const pro = files.filter((f) => f.edition === 'Professional');
    const seen = thrown(() => chooseEsdFile(pro, route('Enterprise'), resolveLanguage('English')));
    expect(seen, String(seen)).toBeInstanceOf(AppError);
    expect(seen).not.toBeInstanceOf(NoLocalizedMediaError);
    expect((seen as Error).message).toBe("Microsoft's ESD catalog of windows11 lists no x64 Enterprise ESD (editions listed: Professional)");
  });
});
