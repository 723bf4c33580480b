/**
 * The Windows settings of the configuration, checked against Windows' own rules and turned into
 * what the answer file needs. Pure: Config and the catalog entry in, settings (or a config error,
 * exit 2) out, plus the warnings to log.
 */
import type { Config } from '../config/options.js';
import { invalidSetting } from '../core/errors.js';
import { genericKeyFor, selectImage, type CatalogEntry, type ImageSelector } from './catalog.js';
import { parseLocaleTag, resolveLanguage } from './languages.js';

export interface WindowsSettings {
  username: string;
  password: string;
  /** UILanguage / SetupUILanguage: the media's language. */
  uiLanguage: string;
  /** SystemLocale and UserLocale. */
  locale: string;
  /** InputLocale: a tag or a "0407:00000407" pair. */
  inputLocale: string;
  image: ImageSelector;
  /** KEY, or the edition's generic install key, or none (evaluation media). */
  productKey: string | undefined;
  /** undefined: Setup picks a random name ("*"). */
  computerName: string | undefined;
}

export interface SettingsResult {
  settings: WindowsSettings;
  warnings: string[];
}

// Characters Windows refuses in a user name (Microsoft: "User name requirements" of local
// accounts: " / \ [ ] : ; | = , + * ? < > @ are not allowed; up to 20 characters).
const BAD_USER_CHARS = /["/\\[\]:;|=,+*?<>@]/;

export function windowsSettings(
  config: Pick<Config, 'username' | 'password' | 'language' | 'region' | 'keyboard' | 'edition' | 'key' | 'computerName'>,
  entry: CatalogEntry | undefined,
): SettingsResult {
  const warnings: string[] = [];
  const username = config.username.trim();
  if (username.length === 0 || username.length > 20 || BAD_USER_CHARS.test(username) || /^[.\s]+$/.test(username)) {
    throw invalidSetting('USERNAME', config.username, 'a Windows user name of 1 to 20 characters without " / \\ [ ] : ; | = , + * ? < > @');
  }
  if (config.password === 'admin') {
    warnings.push('PASSWORD is the default "admin": set PASSWORD before exposing RDP or the viewer beyond your machine');
  }
  if (config.password.length > 127) throw invalidSetting('PASSWORD', '[redacted]', 'at most 127 characters (the Windows limit)');

  const language = resolveLanguage(config.language);
  const locale = config.region ? parseLocaleTag(config.region, 'REGION', false) : language.culture;
  const inputLocale = config.keyboard ? parseLocaleTag(config.keyboard, 'KEYBOARD', true) : locale;

  let computerName: string | undefined;
  if (config.computerName !== undefined && config.computerName.trim() !== '') {
    computerName = config.computerName.trim().toUpperCase();
    // NetBIOS name rules as Setup enforces them (Unattend reference, Shell-Setup | ComputerName):
    // at most 15 characters, letters, digits and hyphens, not only digits.
    if (!/^[A-Z0-9-]{1,15}$/.test(computerName) || /^\d+$/.test(computerName)) {
      throw invalidSetting('COMPUTER_NAME', config.computerName, 'up to 15 letters, digits or hyphens, not only digits');
    }
  }

  let productKey: string | undefined;
  if (config.key !== undefined && config.key.trim() !== '') {
    productKey = config.key.trim().toUpperCase();
    if (!/^([A-Z0-9]{5}-){4}[A-Z0-9]{5}$/.test(productKey)) {
      throw invalidSetting('KEY', '[redacted]', 'a product key of five groups of five letters or digits (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX)');
    }
  } else if (entry) {
    productKey = genericKeyFor(entry, config.edition);
  }

  const image: ImageSelector = entry
    ? selectImage(entry, config.edition)
    : config.edition && /^\d+$/.test(config.edition.trim())
      ? { by: 'index', value: Number(config.edition.trim()) }
      : config.edition
        ? { by: 'name', value: config.edition.trim() }
        : { by: 'index', value: 1 };

  return {
    settings: { username, password: config.password, uiLanguage: language.culture, locale, inputLocale, image, productKey, computerName },
    warnings,
  };
}
