/**
 * Resolves the configuration from the environment and the command line flags (flags win), pure:
 * the caller passes both in. Every value is parsed before anything is touched, and every invalid
 * value is reported, not only the first.
 */
import { AppError } from '../core/errors.js';
import { crossCheck } from './cross-check.js';
import { OPTIONS, type Config, type Option, type OptionName } from './options.js';
import { REDACTED, redactUrl } from './redact.js';

export type RawSettings = Readonly<Record<string, string | undefined>>;

/** Checks a kind of guest adds (its profile's `checkSettings`); they run once every value parsed. */
export type SettingsCheck = (config: Config) => AppError[];

export function resolveConfig(env: RawSettings, flags: RawSettings = {}, guestChecks: SettingsCheck = () => []): Config {
  const config: Record<string, unknown> = {};
  const problems: AppError[] = [];
  for (const [key, row] of Object.entries(OPTIONS) as [OptionName, Option<unknown>][]) {
    const raw = flags[row.flag] ?? env[row.env];
    // An empty variable counts as unset: compose files often carry `FOO=` placeholders.
    if (raw === undefined || raw === '') {
      if (row.default !== undefined) config[key] = row.default;
      continue;
    }
    try {
      config[key] = row.parse(raw, row.env);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      problems.push(error);
    }
  }
  if (problems.length === 0) problems.push(...crossCheck(config as Config), ...guestChecks(config as Config));
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
    throw new AppError('config', problems.map((p) => p.message).join('; '), {
      details: { problems: problems.map((p) => p.details) },
    });
  }
  return config as Config;
}

/** Settings that may hold a URL with credentials or a signed query. */
const URL_SETTINGS: ReadonlySet<OptionName> = new Set(['boot', 'version']);

/**
 * The configuration as printed by `windock config` and logged at start-up: secrets replaced, URLs
 * without user info or query (redact.ts), everything else kept.
 */
export function redactConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(OPTIONS) as [OptionName, Option<unknown>][]) {
    const value = config[key];
    if (value === undefined) continue;
    shown[key] = row.secret ? REDACTED : typeof value === 'string' && URL_SETTINGS.has(key) ? redactUrl(value) : value;
  }
  return shown;
}
