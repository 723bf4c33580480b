/**
 * Resolves the configuration from the environment and the command line flags (flags win), pure:
 * the caller passes both in. Every value is parsed before anything is touched, and every invalid
 * value is reported, not only the first.
 */
import { AppError } from '../core/errors.js';
import { crossCheck } from './cross-check.js';
import { OPTIONS, type Config, type Option, type OptionName } from './options.js';
import { DOCKUR_ONLY } from './dockur-only.js';
import type { HostCapacity, ParseContext } from './parsers.js';
import { reconcile } from './reconcile.js';
import { REDACTED, redactUrl } from './redact.js';

export type RawSettings = Readonly<Record<string, string | undefined>>;

export interface ResolvedSettings {
  config: Config;
  /** Values accepted but read differently, and dockur settings windock does not honour. */
  warnings: string[];
}

/** Checks a kind of guest adds (its profile's `checkSettings`); they run once every value parsed. */
export type SettingsCheck = (config: Config) => AppError[];

export interface ResolveContext {
  /** The capacity dockur's `half`/`max` are read against (RAM_SIZE, CPU_CORES); without it those values are refused. */
  host?: HostCapacity;
  guestChecks?: SettingsCheck;
}

/** The configuration alone; warnings are dropped (callers that show them use resolveSettings). */
export function resolveConfig(env: RawSettings, flags: RawSettings = {}, context: ResolveContext = {}): Config {
  return resolveSettings(env, flags, context).config;
}

export function resolveSettings(env: RawSettings, flags: RawSettings = {}, context: ResolveContext = {}): ResolvedSettings {
  const { host, guestChecks = () => [] } = context;
  const config: Record<string, unknown> = {};
  const problems: AppError[] = [];
  const warnings: string[] = [];
  const ctx: ParseContext = { host, warn: (message) => warnings.push(message) };
  for (const [key, row] of Object.entries(OPTIONS) as [OptionName, Option<unknown>][]) {
    const raw = flags[row.flag] ?? nonEmpty(env[row.env]) ?? (row.dockur ? env[row.dockur] : undefined);
    // An empty variable counts as unset: compose files often carry `FOO=` placeholders.
    if (raw === undefined || raw === '') {
      if (row.default !== undefined) config[key] = row.default;
      continue;
    }
    try {
      config[key] = row.parse(raw, row.env, ctx);
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
  const resolved = reconcile(config as Config, ctx.warn);
  warnings.push(...dockurOnlyWarnings(env));
  return { config: resolved, warnings };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

const ROW_ENVS: ReadonlySet<string> = new Set(Object.values(OPTIONS).map((row: Option<unknown>) => row.env));

/** One warning per dockur variable that is set, has no row, and asks for what windock does not do. */
export function dockurOnlyWarnings(env: RawSettings): string[] {
  const warnings: string[] = [];
  for (const entry of DOCKUR_ONLY) {
    const raw = env[entry.env]?.trim();
    if (!raw || ROW_ENVS.has(entry.env) || entry.same?.includes(raw.toLowerCase())) continue;
    warnings.push(`${entry.env}=${raw}: ${entry.instead}`);
  }
  return warnings;
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
