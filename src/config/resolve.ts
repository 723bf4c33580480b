/**
 * Resolves the configuration from the environment and the command line flags (flags win), pure:
 * the caller passes both in. Every value is parsed before anything is touched, and every invalid
 * value is reported, not only the first.
 */
import { AppError } from '../errors.js';
import { resolveVersion } from '../windows/catalog.js';
import { windowsSettings } from '../windows/settings.js';
import { OPTIONS, type Config, type Option, type OptionName } from './options.js';

export type RawSettings = Readonly<Record<string, string | undefined>>;

export function resolveConfig(env: RawSettings, flags: RawSettings = {}): Config {
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
  if (problems.length === 0) problems.push(...crossCheck(config as Config));
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
    throw new AppError('config', problems.map((p) => p.message).join('; '), {
      details: { problems: problems.map((p) => p.details) },
    });
  }
  return config as Config;
}

/**
 * Checks that need several settings: VERSION must name a known Windows (or be a URL) when no
 * BOOT is given, and the Windows account settings must suit that Windows. Done here so that a
 * typo exits 2 before anything in STORAGE is touched.
 */
function crossCheck(config: Config): AppError[] {
  if (config.boot) return [];
  try {
    const version = resolveVersion(config.version);
    if (version.kind === 'catalog' && !config.manual) windowsSettings(config, version.entry);
    return [];
  } catch (error) {
    if (error instanceof AppError) return [error];
    throw error;
  }
}

/** The configuration as printed by `windock config`: secrets replaced, everything else kept. */
export function redactConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(OPTIONS) as [OptionName, Option<unknown>][]) {
    const value = config[key];
    if (value === undefined) continue;
    shown[key] = row.secret ? '[redacted]' : value;
  }
  return shown;
}
