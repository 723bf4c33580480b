/**
 * Languages of Windows media, as data. Each row ties together the names a user may type in
 * LANGUAGE (dockur/windows accepts "French", "fr", "fr-FR"), the culture tag Windows Setup uses
 * (UILanguage, locales), and the names Microsoft's download API gives the same language in its
 * SKU list (`Skus[].Language` of getskuinformationbyproductedition), in order of preference.
 */
import { invalidSetting } from '../core/errors.js';

export interface WindowsLanguage {
  /** Culture tag of the media and the UI, e.g. "fr-FR" (UILanguage, SetupUILanguage). */
  culture: string;
  /** Human name, for messages. */
  name: string;
  /** What users may type (lower case): names, two-letter codes, culture tags. */
  aliases: readonly string[];
  /** `Skus[].Language` values of Microsoft's consumer download API, most specific first. */
  skuNames: readonly string[];
  /** Evaluation Center pages list links per culture/country; undefined: none for this language. */
  evalCulture?: { culture: string; country: string };
}

// SKU names as Microsoft's download API spells them (see the language list of Fido and of
// dockur/windows src/define.sh `getLanguage`); evaluation cultures as the Evaluation Center
// pages list them (dockur/windows src/mido.sh `download_windows_eval`).
export const LANGUAGES: readonly WindowsLanguage[] = [
  { culture: 'en-US', name: 'English', aliases: ['english', 'en', 'en-us', 'us'], skuNames: ['English (United States)', 'English'], evalCulture: { culture: 'en-us', country: 'us' } },
  { culture: 'en-GB', name: 'English (United Kingdom)', aliases: ['british', 'gb', 'en-gb', 'uk-english', 'english international'], skuNames: ['English International'], evalCulture: { culture: 'en-gb', country: 'gb' } },
  { culture: 'ar-SA', name: 'Arabic', aliases: ['arabic', 'ar', 'ar-sa'], skuNames: ['Arabic'] },
  { culture: 'pt-BR', name: 'Portuguese (Brazil)', aliases: ['brazilian', 'brazilian portuguese', 'br', 'pt-br', 'pt', 'portuguese', 'português', 'portugues'], skuNames: ['Brazilian Portuguese'], evalCulture: { culture: 'pt-br', country: 'br' } },
  { culture: 'bg-BG', name: 'Bulgarian', aliases: ['bulgarian', 'bg', 'bg-bg'], skuNames: ['Bulgarian'] },
  { culture: 'zh-CN', name: 'Chinese (Simplified)', aliases: ['chinese', 'chinese simplified', 'zh', 'cn', 'zh-cn'], skuNames: ['Chinese Simplified', 'Chinese (Simplified)'], evalCulture: { culture: 'zh-cn', country: 'cn' } },
  { culture: 'zh-TW', name: 'Chinese (Traditional)', aliases: ['chinese traditional', 'tw', 'zh-tw', 'zh-hk', 'hk'], skuNames: ['Chinese Traditional', 'Chinese (Traditional)'], evalCulture: { culture: 'zh-tw', country: 'tw' } },
  { culture: 'hr-HR', name: 'Croatian', aliases: ['croatian', 'hr', 'hr-hr'], skuNames: ['Croatian'] },
  { culture: 'cs-CZ', name: 'Czech', aliases: ['czech', 'cs', 'cz', 'cs-cz'], skuNames: ['Czech'] },
  { culture: 'da-DK', name: 'Danish', aliases: ['danish', 'da', 'dk', 'da-dk'], skuNames: ['Danish'] },
  { culture: 'nl-NL', name: 'Dutch', aliases: ['dutch', 'nl', 'nl-nl'], skuNames: ['Dutch'] },
  { culture: 'et-EE', name: 'Estonian', aliases: ['estonian', 'et', 'et-ee'], skuNames: ['Estonian'] },
  { culture: 'fi-FI', name: 'Finnish', aliases: ['finnish', 'fi', 'fi-fi'], skuNames: ['Finnish'] },
  { culture: 'fr-FR', name: 'French', aliases: ['french', 'fr', 'fr-fr', 'francais', 'français'], skuNames: ['French'], evalCulture: { culture: 'fr-fr', country: 'fr' } },
  { culture: 'fr-CA', name: 'French (Canada)', aliases: ['french canadian', 'fr-ca'], skuNames: ['French Canadian'] },
  { culture: 'de-DE', name: 'German', aliases: ['german', 'deutsch', 'de', 'de-de'], skuNames: ['German'], evalCulture: { culture: 'de-de', country: 'de' } },
  { culture: 'el-GR', name: 'Greek', aliases: ['greek', 'el', 'gr', 'el-gr'], skuNames: ['Greek'] },
  { culture: 'he-IL', name: 'Hebrew', aliases: ['hebrew', 'he', 'il', 'he-il'], skuNames: ['Hebrew'] },
  { culture: 'hu-HU', name: 'Hungarian', aliases: ['hungarian', 'hu', 'hu-hu'], skuNames: ['Hungarian'] },
  { culture: 'it-IT', name: 'Italian', aliases: ['italian', 'it', 'it-it'], skuNames: ['Italian'], evalCulture: { culture: 'it-it', country: 'it' } },
  { culture: 'ja-JP', name: 'Japanese', aliases: ['japanese', 'ja', 'jp', 'ja-jp'], skuNames: ['Japanese'], evalCulture: { culture: 'ja-jp', country: 'jp' } },
  { culture: 'ko-KR', name: 'Korean', aliases: ['korean', 'ko', 'kr', 'ko-kr'], skuNames: ['Korean'], evalCulture: { culture: 'ko-kr', country: 'kr' } },
  { culture: 'lv-LV', name: 'Latvian', aliases: ['latvian', 'lv', 'lv-lv'], skuNames: ['Latvian'] },
  { culture: 'lt-LT', name: 'Lithuanian', aliases: ['lithuanian', 'lt', 'lt-lt'], skuNames: ['Lithuanian'] },
  { culture: 'nb-NO', name: 'Norwegian', aliases: ['norwegian', 'nb', 'no', 'nn', 'nb-no'], skuNames: ['Norwegian'] },
  { culture: 'pl-PL', name: 'Polish', aliases: ['polish', 'pl', 'pl-pl'], skuNames: ['Polish'] },
  { culture: 'pt-PT', name: 'Portuguese (Portugal)', aliases: ['european portuguese', 'pt-pt'], skuNames: ['Portuguese'] },
  { culture: 'ro-RO', name: 'Romanian', aliases: ['romanian', 'ro', 'ro-ro'], skuNames: ['Romanian'] },
  { culture: 'ru-RU', name: 'Russian', aliases: ['russian', 'ru', 'ru-ru'], skuNames: ['Russian'], evalCulture: { culture: 'ru-ru', country: 'ru' } },
  { culture: 'sr-Latn-RS', name: 'Serbian (Latin)', aliases: ['serbian', 'serbian latin', 'sr', 'sr-latn-rs'], skuNames: ['Serbian Latin'] },
  { culture: 'sk-SK', name: 'Slovak', aliases: ['slovak', 'sk', 'sk-sk'], skuNames: ['Slovak'] },
  { culture: 'sl-SI', name: 'Slovenian', aliases: ['slovenian', 'sl', 'si', 'sl-si'], skuNames: ['Slovenian'] },
  { culture: 'es-ES', name: 'Spanish', aliases: ['spanish', 'es', 'es-es', 'espanol', 'español'], skuNames: ['Spanish'], evalCulture: { culture: 'es-es', country: 'es' } },
  { culture: 'es-MX', name: 'Spanish (Mexico)', aliases: ['mexican', 'mx', 'es-mx'], skuNames: ['Spanish (Mexico)'] },
  { culture: 'sv-SE', name: 'Swedish', aliases: ['swedish', 'sv', 'se', 'sv-se'], skuNames: ['Swedish'] },
  { culture: 'th-TH', name: 'Thai', aliases: ['thai', 'th', 'th-th'], skuNames: ['Thai'] },
  { culture: 'tr-TR', name: 'Turkish', aliases: ['turkish', 'tr', 'tr-tr'], skuNames: ['Turkish'] },
  { culture: 'uk-UA', name: 'Ukrainian', aliases: ['ukrainian', 'uk', 'ua', 'uk-ua'], skuNames: ['Ukrainian'] },
];

/** Regional variants whose media is not the bare code's: Portuguese outside Brazil is pt-PT (dockur). */
const REGIONAL_FALLBACK: Readonly<Record<string, string>> = { pt: 'pt-pt' };

/**
 * The regional format LANGUAGE implies when it names a region the media has no language of its
 * own for ("en-AU": English media, Australian formats); undefined otherwise.
 */
export function regionalLocale(raw: string): string | undefined {
  const text = (raw.split(':')[0] ?? '').trim().replace(/\.[A-Za-z0-9-]+$/, '');
  if (!/^[a-z]{2,3}[-_][A-Za-z]{2}$/i.test(text)) return undefined;
  const tag = parseLocaleTag(text, 'LANGUAGE', false);
  return tag === resolveLanguage(raw).culture ? undefined : tag;
}

/** LANGUAGE → a row; config error (exit 2) naming the accepted values otherwise. */
export function resolveLanguage(raw: string, variable = 'LANGUAGE'): WindowsLanguage {
  // LANGUAGE is also GNU gettext's variable ("en_US:en", "de_DE.UTF-8"), which a shell may pass
  // through: its first entry, without the encoding, is read the same way.
  const text = (raw.split(':')[0] ?? '').trim().toLowerCase().replace(/\.[a-z0-9-]+$/, '').replace(/_/g, '-');
  const found = LANGUAGES.find((l) => l.aliases.includes(text) || l.culture.toLowerCase() === text);
  if (found) return found;
  // A regional variant of a language Windows media exists in ("en-AU", "de-AT", "fr-BE") gets
  // that language's media, as dockur does; its regional format stays (regionalLocale).
  const variant = /^([a-z]{2,3})-[a-z0-9-]+$/.exec(text);
  const primary = variant ? (REGIONAL_FALLBACK[variant[1]!] ?? variant[1]!) : undefined;
  const base = primary ? LANGUAGES.find((l) => l.aliases.includes(primary) || l.culture.toLowerCase() === primary) : undefined;
  if (base) return base;
  throw invalidSetting(
    variable,
    raw,
    'a language name or tag Windows media exists in',
    `Accepted: ${LANGUAGES.map((l) => `${l.name} (${l.culture})`).join(', ')}.`,
  );
}

/**
 * REGION and KEYBOARD: a culture tag ("en-GB", "sr-Latn-RS") or, for KEYBOARD, an input locale
 * pair ("0407:00000407"). Windows Setup accepts both forms in InputLocale (Unattend reference,
 * Microsoft-Windows-International-Core-WinPE | InputLocale).
 */
export function parseLocaleTag(raw: string, variable: string, allowInputLocale: boolean): string {
  const text = raw.trim().replace(/_/g, '-');
  if (/^[a-z]{2,3}(-[A-Za-z]{4})?-[A-Za-z]{2}$/i.test(text)) {
    const parts = text.split('-');
    // Canonical case: language lower, script title, region upper ("sr-Latn-RS").
    return parts
      .map((p, i) => (i === 0 ? p.toLowerCase() : p.length === 4 ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p.toUpperCase()))
      .join('-');
  }
  if (allowInputLocale && /^[0-9a-f]{4}:[0-9a-f]{8}$/i.test(text)) return text.toUpperCase();
  throw invalidSetting(
    variable,
    raw,
    allowInputLocale ? 'a culture tag such as "de-DE" or an input locale such as "0407:00000407"' : 'a culture tag such as "en-GB"',
  );
}
