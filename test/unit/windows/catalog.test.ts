import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { CATALOG, catalogKeys, genericKeyFor, installsHandsOff, resolveVersion, selectImage, type CatalogEntry } from '../../../src/windows/catalog.js';
import { windowsSettings } from '../../../src/windows/settings.js';
import { windowsProfile } from '../../../src/windows/windows-stage.js';
import { LANGUAGES, parseLocaleTag, resolveLanguage } from '../../../src/windows/languages.js';
import { checkRefusal, hasQueryCulture, MicrosoftBlockedError, namesCulture, parseDownloadLinks, parseEvalLinks, parseProductEditionId } from '../../../src/windows/microsoft-download.js';
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

  it('asks secure boot with a TPM for Windows 11 (trimmed ones included) and Server 2025 only', () => {
    const secure = CATALOG.filter((e) => e.bootMode === 'secure').map((e) => e.key).sort();
    expect(secure).toEqual(['11', '11e', '11l', '11i', '2025', 'core11', 'tiny11'].sort());
  });

  // dockur/windows src/define.sh parseVersion: every value it accepts, grouped by what it maps to.
  const DOCKUR: Record<string, string[]> = {
    '11': ['11', '11p', 'win11', 'pro11', 'win11p', 'windows11', 'windows 11'],
    '11e': ['11e', 'win11e', 'windows11e', 'windows 11e'],
    '11l': ['11l', '11ltsc', 'ltsc11', 'win11l', 'win11-ltsc', 'win11x64-ltsc'],
    '11i': ['11i', '11iot', 'iot11', 'win11i', 'win11-iot', 'win11x64-iot'],
    '10': ['10', '10p', 'win10', 'pro10', 'win10p', 'windows10', 'windows 10'],
    '10e': ['10e', 'win10e', 'windows10e', 'windows 10e'],
    '10l': ['10l', '10ltsc', 'ltsc10', 'win10l', 'win10-ltsc', 'win10x64-ltsc'],
    '10i': ['10i', '10iot', 'iot10', 'win10i', 'win10-iot', 'win10x64-iot'],
    '8': ['8', '8p', '81', '81p', 'pro8', '8.1', 'win8', 'win8p', 'win81', 'win81p', 'windows 8'],
    '8e': ['8e', '81e', '8.1e', 'win8e', 'win81e', 'windows 8e'],
    '7u': ['7', 'win7', 'windows7', 'windows 7', '7u', 'win7u', 'windows7u', 'windows 7u'],
    '7e': ['7e', 'win7e', 'windows7e', 'windows 7e'],
    '7ux86': ['7x86', 'win7x86', 'win732', 'windows7x86', '7ux86', '7u32', 'win7x86-ultimate'],
    '7ex86': ['7ex86', '7e32', 'win7x86-enterprise'],
    vu: ['vista', 'vs', '6', 'winvista', 'windowsvista', 'windows vista', 'vistu', 'vu', '6u', 'winvistu'],
    ve: ['viste', 've', '6e', 'winviste'],
    vux86: ['vistax86', 'vista32', '6x86', 'winvistax86', 'windowsvistax86', 'vux86', 'vu32', 'winvistax86-ultimate'],
    vex86: ['vex86', 've32', 'winvistax86-enterprise'],
    xp: ['xp', 'xp32', 'xpx86', '5', '5x86', 'winxp', 'winxp86', 'windowsxp', 'windows xp'],
    xp64: ['xp64', 'xpx64', '5x64', 'winxp64', 'winxpx64', 'windowsxp64', 'windowsxpx64'],
    '2k': ['2k', '2000', 'win2k', 'win2000', 'windows2k', 'windows2000'],
    me: ['me', 'winme', 'win9x', 'windowsme', 'windows me'],
    '98': ['98', '98se', 'win98', 'win98se', 'windows98', 'windows98se', 'windows 98', 'windows 98 se'],
    '95': ['95', '95c', 'win95', 'win95c', 'windows95', 'windows 95'],
    '2025': ['25', '2025', 'win25', 'win2025', 'windows2025', 'windows 2025'],
    '2022': ['22', '2022', 'win22', 'win2022', 'windows2022', 'windows 2022'],
    '2019': ['19', '2019', 'win19', 'win2019', 'windows2019', 'windows 2019'],
    '2016': ['16', '2016', 'win16', 'win2016', 'windows2016', 'windows 2016'],
    hv: ['hv', 'hyperv', 'hyper v', 'hyper-v', '19hv', '2019hv', 'win2019hv'],
    '2012': ['2012', '2012r2', 'win2012', 'win2012r2', 'windows2012', 'windows 2012'],
    '2008': ['2008', '2008r2', '2k8', 'win2008', 'win2008r2', 'windows2008', 'windows 2008'],
    '2003': ['2003', '2003r2', '2k3', 'win2003', 'win2003r2', 'windows2003', 'windows 2003'],
    core11: ['core11', 'core 11'],
    tiny11: ['tiny11', 'tiny 11'],
    tiny10: ['tiny10', 'tiny 10'],
  };

  it.each(Object.entries(DOCKUR))('accepts every dockur spelling of %s', (key, spellings) => {
    const seen = spellings.map((s) => {
      const r = resolveVersion(s);
      return r.kind === 'catalog' ? r.entry.key : r.url;
    });
    expect(seen).toEqual(spellings.map(() => key));
  });

  it('keeps IoT separate from LTSC', () => {
    const file = (v: string) => {
      const r = resolveVersion(v);
      return r.kind === 'catalog' ? r.entry.routes.map((x) => ('url' in x ? x.url : 'file' in x ? x.file : 'page' in x ? x.page : x.product)).join(' ') : '';
    };
    expect(file('11l')).toContain('CLIENT_LTSC_EVAL');
    expect(file('11l')).not.toContain('IOT');
    expect(file('11i')).toContain('CLIENT_IOT_LTSC_EVAL');
  });

  const entry = (v: string): CatalogEntry => {
    const r = resolveVersion(v);
    if (r.kind !== 'catalog') throw new Error(v);
    return r.entry;
  };

  it.each([
    // key, firmware, machine, disk and NIC without drivers, USB, hands-off
    ['11', 'secure', 'q35', 'sata', 'e1000e', 'xhci', true],
    ['2008', 'legacy', 'q35', 'sata', 'e1000e', 'uhci', true],
    ['7u', 'legacy', 'q35', 'sata', 'e1000', 'uhci', true],
    ['vux86', 'legacy', 'q35', 'sata', 'e1000', 'uhci', true],
    ['xp', 'legacy', 'pc', 'ide', 'rtl8139', 'uhci', false],
    ['2k', 'legacy', 'pc', 'ide', 'rtl8139', 'uhci', false],
    ['2003', 'legacy', 'pc', 'ide', 'rtl8139', 'uhci', false],
    ['98', 'legacy', 'pc', 'ide', 'pcnet', 'none', false],
    ['95', 'legacy', 'pc', 'ide', 'pcnet', 'none', false],
  ] as const)('VERSION=%s gets %s firmware, a %s machine, %s disk, %s NIC, %s USB (hands-off: %s)', (key, firmware, machine, disk, nic, usb, handsOff) => {
    const e = entry(key);
    const profile = windowsProfile({ boot: undefined, version: key }, false);
    expect({ firmware: profile?.bootMode, machine: profile?.guest.machine, disk: profile?.disk, nic: profile?.nic, usb: profile?.guest.usb, handsOff: installsHandsOff(e) })
      .toEqual({ firmware, machine, disk, nic, usb, handsOff });
  });

  it('takes NX and long mode away from 32-bit Windows before 8, and keeps 64-bit ones whole', () => {
    for (const e of CATALOG) {
      const old32 = e.arch === 'x86';
      expect({ key: e.key, flags: e.cpuFlags }).toEqual({ key: e.key, flags: old32 ? ['nx=off', 'lm=off'] : [] });
    }
    expect(entry('7ux86').globals).toEqual(['q35-pcihost.x-pci-hole64-fix=false']);
    expect(entry('95').acpiPowerButton).toBe(false);
  });

  it('gives every mirror route a pinned digest, and installs every Vista-or-later entry from an answer file', () => {
    for (const e of CATALOG) {
      for (const r of e.routes) if (r.kind === 'mirror') expect(r.sha256, `${e.key} ${r.file}`).toMatch(/^[0-9a-f]{64}$/);
      expect({ key: e.key, install: e.install }).toEqual({ key: e.key, install: e.machine === 'pc' ? 'manual' : 'xml' });
    }
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
        expect(route.url).toMatch(/^https:\/\/[a-z-]+\.(download\.prss\.)?microsoft\.com\//);
        expect(route.url.startsWith('https://')).toBe(true);
        if (route.sha256 !== undefined) expect(route.sha256).toMatch(/^[0-9a-f]{64}$/);
        if (route.size !== undefined) expect(Number.isSafeInteger(route.size)).toBe(true);
      }
      expect(entry.minRamBytes).toBeGreaterThanOrEqual(entry.machine === 'pc' ? 2 ** 28 : 2 ** 30);
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

  it('takes any regional variant of a supported language, as dockur does (pt → pt-BR, other pt-* → pt-PT)', () => {
    const seen = ['en-AU', 'en_ca', 'de-AT', 'de-CH', 'fr-BE', 'es-AR', 'pt', 'Portuguese', 'pt-AO', 'pt-PT', 'pt-BR', 'en-GB', 'zh-SG', 'sr-Latn-ME']
      .map((raw) => [raw, resolveLanguage(raw).culture]);
    expect(Object.fromEntries(seen)).toEqual({
      'en-AU': 'en-US', en_ca: 'en-US', 'de-AT': 'de-DE', 'de-CH': 'de-DE', 'fr-BE': 'fr-FR', 'es-AR': 'es-ES', pt: 'pt-BR', Portuguese: 'pt-BR',
      'pt-AO': 'pt-PT', 'pt-PT': 'pt-PT', 'pt-BR': 'pt-BR', 'en-GB': 'en-GB', 'zh-SG': 'zh-CN', 'sr-Latn-ME': 'sr-Latn-RS',
    });
    expect(() => resolveLanguage('xx-YY')).toThrow(/LANGUAGE must be/);
  });

  it('keeps the regional format a regional LANGUAGE names, unless REGION says otherwise', () => {
    const e = CATALOG.find((x) => x.key === '11')!;
    const base = { username: 'Docker', password: 'admin', edition: undefined, key: undefined, computerName: undefined, keyboard: undefined };
    const of = (language: string, region?: string) => {
      const s = windowsSettings({ ...base, language, region }, e).settings;
      return [s.uiLanguage, s.locale];
    };
    expect(of('en-AU')).toEqual(['en-US', 'en-AU']);
    expect(of('de-AT', 'de-CH')).toEqual(['de-DE', 'de-CH']);
    expect(of('French')).toEqual(['fr-FR', 'fr-FR']);
  });

  it('EDITION=Core names the Standard Core image that exists on server media', () => {
    const e = (k: string) => CATALOG.find((x) => x.key === k)!;
    expect(selectImage(e('2022'), 'Core')).toEqual({ by: 'name', value: 'Windows Server 2022 SERVERSTANDARDCORE' });
    expect(selectImage(e('2019'), 'core')).toEqual({ by: 'name', value: 'Windows Server 2019 SERVERSTANDARDCORE' });
    expect(selectImage(e('2022'), 'Datacenter Core')).toEqual({ by: 'name', value: 'Windows Server 2022 SERVERDATACENTERCORE' });
    expect(selectImage(e('2012'), 'Core')).toEqual({ by: 'name', value: 'Windows Server 2012 R2 SERVERSTANDARDCORE' });
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

  it('reads every Evaluation Center link once, in page order, with &amp; escapes, and the culture of older pages\' queries', () => {
    const html = '<a href="https://go.microsoft.com/fwlink/p/?linkid=1&amp;clcid=0x409&amp;culture=en-us&amp;country=us">x</a>' +
      '<a href="https://go.microsoft.com/fwlink/?linkid=2&clcid=0x407&culture=de-de&country=de">y</a>' +
      '<a href="https://go.microsoft.com/fwlink/p/?linkid=1&amp;clcid=0x409&amp;culture=en-us&amp;country=us">again</a>';
    const links = parseEvalLinks(html, 'https://go.microsoft.com');
    expect(links).toEqual(['https://go.microsoft.com/fwlink/p/?linkid=1&clcid=0x409&culture=en-us&country=us', 'https://go.microsoft.com/fwlink/?linkid=2&clcid=0x407&culture=de-de&country=de']);
    expect(links.map((l) => hasQueryCulture(l, 'de-de', 'de'))).toEqual([false, true]);
  });

  it('finds the culture in a redirect target\'s path, in Microsoft\'s spellings, not inside other words', () => {
    expect(namesCulture('https://h/sg/download/x/SERVER_EVAL_x64FRE_de-de.iso', 'de-de')).toBe(true);
    expect(namesCulture('https://h/download/9600.17050_X64FREE_EN-US_DV9.ISO?t=de-de', 'en-us')).toBe(true);
    expect(namesCulture('https://h/download/9600.17050_X64FREE_EN-US_DV9.ISO?t=de-de', 'de-de')).toBe(false);
    expect(namesCulture('https://h/x/22621_CLIENTENTERPRISEEVAL_jp-jp.iso', 'ja-jp')).toBe(true);
    expect(namesCulture('https://h/x/venus-usb.iso', 'en-us')).toBe(false);
  });

  it('names files after the URL path, never the query', () => {
    expect(fileNameFromUrl('https://h/dl/Win11_24H2_English_x64.iso?t=secret&P1=2', 'windows.iso')).toBe('Win11_24H2_English_x64.iso');
    expect(fileNameFromUrl('https://h/a%20b/..', 'windows.iso')).toBe('windows.iso');
  });
});
