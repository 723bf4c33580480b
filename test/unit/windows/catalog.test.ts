import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { CATALOG, catalogKeys, genericKeyFor, resolveVersion, selectImage } from '../../../src/windows/catalog.js';
import { LANGUAGES, parseLocaleTag, resolveLanguage } from '../../../src/windows/languages.js';
import { checkRefusal, MicrosoftBlockedError, parseDownloadLinks, parseEvalLinks, parseProductEditionId } from '../../../src/windows/microsoft-download.js';
import { fileNameFromUrl } from '../../../src/storage/media.js';

describe('catalog', () => {
  it.each(catalogKeys())('resolves VERSION=%s to an entry', (key) => {
    const resolved = resolveVersion(key);
    expect(resolved.kind).toBe('catalog');
    // Case and surrounding quotes (compose files) do not matter.
    expect(resolveVersion(`"${key.toUpperCase()}"`)).toEqual(resolved);
  });

  it('has no key or alias twice', () => {
    const keys = catalogKeys();
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('maps the documented keys to the expected products', () => {
    const product = (v: string) => {
      const r = resolveVersion(v);
      return r.kind === 'catalog' ? r.entry.product : r.url;
    };
    expect(product('11')).toBe('Windows 11 Pro');
    expect(product('win11')).toBe('Windows 11 Pro');
    expect(product('11l')).toContain('LTSC');
    expect(product('ltsc11')).toContain('LTSC');
    expect(product('11e')).toContain('Enterprise');
    expect(product('10')).toBe('Windows 10 Pro');
    expect(product('10l')).toContain('LTSC');
    expect(product('10e')).toContain('Enterprise');
    for (const year of ['2025', '2022', '2019', '2016']) expect(product(year)).toContain(`Server ${year}`);
  });

  it('asks secure boot with a TPM for Windows 11 and Server 2025 only', () => {
    const secure = CATALOG.filter((e) => e.bootMode === 'secure').map((e) => e.key).sort();
    expect(secure).toEqual(['11', '11e', '11l', '2025'].sort());
  });

  it('passes a URL in VERSION through', () => {
    expect(resolveVersion(' https://example.test/w.iso ')).toEqual({ kind: 'url', url: 'https://example.test/w.iso' });
  });

  it('refuses an unknown VERSION with exit 2, listing the valid keys', () => {
    const error = (() => {
      try {
        resolveVersion('12');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(2);
    for (const entry of CATALOG) expect((error as AppError).hint).toContain(entry.key);
  });

  it('every entry has at least one route, and pinned digests are 64 lower-case hex digits on HTTPS URLs', () => {
    for (const entry of CATALOG) {
      expect(entry.routes.length).toBeGreaterThan(0);
      for (const route of entry.routes) {
        if (route.kind !== 'static') continue;
        expect(route.url.startsWith('https://')).toBe(true);
        if (route.sha256 !== undefined) expect(route.sha256).toMatch(/^[0-9a-f]{64}$/);
        if (route.size !== undefined) expect(Number.isSafeInteger(route.size)).toBe(true);
      }
      expect(entry.minRamBytes).toBeGreaterThanOrEqual(2 * 2 ** 30);
    }
  });

  it('selects images by EDITION: client names, server names with Core, indexes, full names', () => {
    const get = (v: string) => {
      const r = resolveVersion(v);
      if (r.kind !== 'catalog') throw new Error(v);
      return r.entry;
    };
    expect(selectImage(get('11'), undefined)).toEqual({ by: 'name', value: 'Windows 11 Pro' });
    expect(selectImage(get('11'), 'Education')).toEqual({ by: 'name', value: 'Windows 11 Education' });
    expect(selectImage(get('2022'), 'Datacenter')).toEqual({ by: 'name', value: 'Windows Server 2022 SERVERDATACENTER' });
    expect(selectImage(get('2022'), 'Standard Core')).toEqual({ by: 'name', value: 'Windows Server 2022 SERVERSTANDARDCORE' });
    expect(selectImage(get('10'), '3')).toEqual({ by: 'index', value: 3 });
    expect(selectImage(get('11e'), 'Windows 11 Enterprise Evaluation')).toEqual({ by: 'name', value: 'Windows 11 Enterprise Evaluation' });
    expect(() => selectImage(get('11e'), 'Pro')).toThrow(/one edition/);
    expect(genericKeyFor(get('11'), 'home')).toBe('YTMG3-N6DKC-DKB77-7M9GH-8HVX7');
    expect(genericKeyFor(get('2022'), undefined)).toBeUndefined();
  });
});

describe('languages', () => {
  it('resolves names, codes and tags', () => {
    expect(resolveLanguage('French').culture).toBe('fr-FR');
    expect(resolveLanguage('fr').culture).toBe('fr-FR');
    expect(resolveLanguage('pt_BR').culture).toBe('pt-BR');
    expect(resolveLanguage('EN-gb').culture).toBe('en-GB');
    // GNU gettext's LANGUAGE form, as a desktop shell exports it.
    expect(resolveLanguage('en_US:en').culture).toBe('en-US');
    expect(resolveLanguage('de_DE.UTF-8').culture).toBe('de-DE');
    expect(() => resolveLanguage('Klingon')).toThrow(/LANGUAGE must be/);
  });

  it('has unique aliases', () => {
    const aliases = LANGUAGES.flatMap((l) => l.aliases);
    expect(new Set(aliases).size).toBe(aliases.length);
  });

  it('normalizes locale tags and keeps input locale pairs for KEYBOARD', () => {
    expect(parseLocaleTag('en_gb', 'REGION', false)).toBe('en-GB');
    expect(parseLocaleTag('sr-latn-rs', 'REGION', false)).toBe('sr-Latn-RS');
    expect(parseLocaleTag('0407:00000407', 'KEYBOARD', true)).toBe('0407:00000407');
    expect(() => parseLocaleTag('0407:00000407', 'REGION', false)).toThrow(/REGION must be/);
  });
});

describe('Microsoft answer parsing', () => {
  it('reads the product edition id from the download page', () => {
    expect(parseProductEditionId('<option value="">Select</option><option value="3321">Windows 11 (multi-edition ISO)</option>')).toBe('3321');
    expect(parseProductEditionId('<option value="3321">Office</option>')).toBeUndefined();
  });

  it('recognizes the refusal in its JSON and HTML forms, and nothing else', () => {
    expect(() => checkRefusal('{"Errors":[{"Key":"ErrorSettings.SentinelReject","Value":"Sentinel marked this request as rejected.","Type":9}]}', 'windows11')).toThrow(MicrosoftBlockedError);
    expect(() => checkRefusal('{"Errors":[{"Value":"x","Type":9}]}', 'windows11')).toThrow(MicrosoftBlockedError);
    expect(() => checkRefusal('<p>Refer to message code 715-123130 and abc.</p>', 'windows11')).toThrow(MicrosoftBlockedError);
    expect(() => checkRefusal('{"Skus":[]}', 'windows11')).not.toThrow();
  });

  it('picks the x64 link among the download options', () => {
    const answer = JSON.stringify({ ProductDownloadOptions: [{ Uri: 'https://a/x86.iso', DownloadType: 0 }, { Uri: 'https://a/Win11_x64.iso?t=1', DownloadType: 1 }] });
    expect(parseDownloadLinks(answer, 'windows11')).toBe('https://a/Win11_x64.iso?t=1');
    expect(() => parseDownloadLinks('{"ProductDownloadOptions":[]}', 'windows11')).toThrow(/no x64 ISO/);
  });

  it('reads Evaluation Center links of one culture with &amp; escapes', () => {
    const html = '<a href="https://go.microsoft.com/fwlink/p/?linkid=1&amp;clcid=0x409&amp;culture=en-us&amp;country=us">x</a>' +
      '<a href="https://go.microsoft.com/fwlink/?linkid=2&clcid=0x407&culture=de-de&country=de">y</a>';
    expect(parseEvalLinks(html, 'https://go.microsoft.com', 'en-us', 'us')).toEqual(['https://go.microsoft.com/fwlink/p/?linkid=1&clcid=0x409&culture=en-us&country=us']);
    expect(parseEvalLinks(html, 'https://go.microsoft.com', 'de-de', 'de')).toHaveLength(1);
  });

  it('names files after the URL path, never the query', () => {
    expect(fileNameFromUrl('https://h/dl/Win11_24H2_English_x64.iso?t=secret&P1=2', 'windows.iso')).toBe('Win11_24H2_English_x64.iso');
    expect(fileNameFromUrl('https://h/a%20b/..', 'windows.iso')).toBe('windows.iso');
  });
});
