/**
 * The Windows settings of the configuration, checked against Windows' own rules and turned into
 * what the answer file needs. Pure: Config and the catalog entry in, settings (or a config error,
 * exit 2) out, plus the warnings to log.
 */
import type { Config } from '../config/options.js';
import { invalidSetting } from '../core/errors.js';
import { genericKeyFor, selectImage, type CatalogEntry, type ImageSelector } from './catalog.js';
import { parseLocaleTag, regionalLocale, resolveLanguage } from './languages.js';

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
  /** The account signs in by itself at every boot (AUTOLOGIN, default Y). */
  autologin: boolean;
  /** DOMAIN join: USERNAME ("user" or "user@domain") and PASSWORD are the domain credentials. */
  domain: { name: string; ou: string | undefined; account: string; accountDomain: string } | undefined;
  /** WORKGROUP when no DOMAIN is set. */
  workgroup: string | undefined;
  display: { width: number; height: number };
  /** COMMAND: one command run at the end of the install (first logon). */
  command: string | undefined;
}

/** The settings added by issue 12; optional so that callers built before them keep working. */
export type AnswerConfig = Partial<Pick<Config, 'autologin' | 'domain' | 'domainOu' | 'workgroup' | 'width' | 'height' | 'command'>>;

export interface SettingsResult {
  settings: WindowsSettings;
  warnings: string[];
}

// Characters Windows refuses in a user name (Microsoft: "User name requirements" of local
// accounts: " / \ [ ] : ; | = , + * ? < > @ are not allowed; up to 20 characters).
const BAD_USER_CHARS = /["/\\[\]:;|=,+*?<>@]/;

export function windowsSettings(
  config: Pick<Config, 'username' | 'password' | 'language' | 'region' | 'keyboard' | 'edition' | 'key' | 'computerName'> & AnswerConfig,
  entry: CatalogEntry | undefined,
): SettingsResult {
  const warnings: string[] = [];
  const username = config.username.trim();
  // With DOMAIN, USERNAME may carry its domain ("user@corp.example"): the account part is checked.
  const accountPart = nonEmpty(config.domain) ? (username.split('@')[0] ?? '') : username;
  if (nonEmpty(config.domain) && username.includes('\\')) throw invalidSetting('USERNAME', config.username, '"user" or "user@domain" when DOMAIN is set');
  if (accountPart.length === 0 || accountPart.length > 20 || BAD_USER_CHARS.test(accountPart) || /^[.\s]+$/.test(accountPart)) {
    throw invalidSetting('USERNAME', config.username, 'a Windows user name of 1 to 20 characters without " / \\ [ ] : ; | = , + * ? < > @');
  }
  if (config.password === 'admin') {
    warnings.push('PASSWORD is the default "admin": set PASSWORD before exposing RDP or the viewer beyond your machine');
  }
  if (config.password.length > 127) throw invalidSetting('PASSWORD', '[redacted]', 'at most 127 characters (the Windows limit)');

  const language = resolveLanguage(config.language);
  const locale = config.region ? parseLocaleTag(config.region, 'REGION', false) : (regionalLocale(config.language) ?? language.culture);
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

  const domain = domainJoin(config, username);
  const workgroup = nonEmpty(config.workgroup);
  if (workgroup !== undefined && !/^[^"/\\[\]:;|=,+*?<>]{1,15}$/.test(workgroup)) {
    throw invalidSetting('WORKGROUP', config.workgroup ?? '', 'a workgroup name of 1 to 15 characters without " / \\ [ ] : ; | = , + * ? < >');
  }
  if (domain && workgroup) warnings.push('WORKGROUP is ignored: DOMAIN is set and the computer joins the domain');

  return {
    settings: {
      username, password: config.password, uiLanguage: language.culture, locale, inputLocale, image, productKey, computerName,
      autologin: config.autologin ?? true,
      domain,
      workgroup: domain ? undefined : workgroup,
      display: { width: config.width ?? 1280, height: config.height ?? 720 },
      command: nonEmpty(config.command),
    },
    warnings,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text ? text : undefined;
}

/**
 * DOMAIN as dockur documents it: a DNS domain name; USERNAME is "user" or "user@domain" (the
 * credential's domain, else DOMAIN), never "DOMAIN\\user" (Setup keeps the domain apart).
 */
function domainJoin(config: AnswerConfig & Pick<Config, 'username'>, username: string): WindowsSettings['domain'] {
  const name = nonEmpty(config.domain)?.toLowerCase();
  if (name === undefined) {
    if (nonEmpty(config.domainOu)) throw invalidSetting('DOMAIN_OU', config.domainOu ?? '', 'set only together with DOMAIN');
    return undefined;
  }
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(name)) {
    throw invalidSetting('DOMAIN', config.domain ?? '', 'a DNS domain name such as "example.com" (not a URL)');
  }
  const [account, accountDomain] = username.includes('@') ? username.split('@', 2) as [string, string] : [username, name];
  return { name, ou: nonEmpty(config.domainOu), account, accountDomain };
}
