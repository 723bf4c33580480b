/**
 * What to make of the text of windock.json, pure. windock itself never leaves a half-written
 * file (state-file.ts writes atomically), so a file that does not parse, or holds a value of the
 * wrong type, was damaged from outside: a failing disk, a copy cut short, a hand edit. Refusing to
 * start would leave the user to repair JSON by hand; starting from nothing would give the guest a
 * new MAC address (Windows then sees a new network card) and the viewer a new token. So the facts
 * that can still be read and that pass their check are kept, the rest is dropped and named, and
 * the caller keeps the damaged file beside it (`windock.json.corrupt-<time>`).
 *
 * A file of a later schema is not damage: it is refused, so that an older windock never rewrites
 * what a newer one recorded.
 */
import { BOOT_MODES, DISK_BUSES } from '../config/options.js';
import { webTokenProblem } from '../config/parsers.js';
import { NIC_MODELS } from '../qemu/vm-spec.js';
import type { PersistedState } from './state-file.js';

export type StateVerdict =
  | { kind: 'ok'; state: PersistedState }
  | { kind: 'newer'; schema: unknown }
  | {
      kind: 'corrupt';
      /** Why the file is not usable as it is. */
      reason: string;
      /** What is kept: every known fact that could be read and passed its check. */
      state: PersistedState;
      recovered: string[];
      /** Known facts found in the file that failed their check. */
      dropped: string[];
    };

type Check = (value: unknown) => boolean;

/** The file as stored: the typed facts plus the slices other modules own (state-file.ts `stateSlice`). */
type Stored = PersistedState & Record<string, unknown>;

/** The check windock.json's value under `key` must pass, if the file knows one. */
export function storedFieldCheck(key: string): Check | undefined {
  return FIELD_CHECKS[key];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (v: unknown, type: 'string' | 'number'): boolean => v === undefined || typeof v === type;
const oneOf = (values: readonly string[]): Check => (v) => typeof v === 'string' && values.includes(v);

/** One check per fact windock records (PersistedState); a fact it does not know is kept as it is. */
const FIELD_CHECKS: Record<string, Check> = {
  mac: (v) => typeof v === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(v),
  webToken: (v) => typeof v === 'string' && webTokenProblem(v) === undefined,
  bootMode: oneOf(BOOT_MODES),
  diskBus: oneOf(DISK_BUSES),
  nicModel: oneOf(NIC_MODELS),
  install: (v) =>
    isObject(v) && typeof v['mediaAttached'] === 'boolean' && typeof v['bootedFromDisk'] === 'boolean' && optional(v['completedAt'], 'string'),
  media: (v) =>
    isObject(v) &&
    typeof v['source'] === 'string' &&
    typeof v['kind'] === 'string' &&
    optional(v['size'], 'number') &&
    optional(v['mtimeMs'], 'number') &&
    optional(v['sha256'], 'string') &&
    optional(v['path'], 'string'),
  base: (v) => isObject(v) && typeof v['path'] === 'string' && typeof v['size'] === 'number' && typeof v['mtimeMs'] === 'number',
  // storage/disk-check.ts
  diskClose: (v) => isObject(v) && typeof v['path'] === 'string' && typeof v['closedCleanly'] === 'boolean',
  // windows/windows-profile.ts: the firmware's line that says Windows booted from the disk (firmware-boot.ts).
  windowsBoot: (v) => isObject(v) && oneOf(['ovmf', 'seabios'])(v['firmware']) && typeof v['at'] === 'string' && !Number.isNaN(Date.parse(v['at'])) && typeof v['line'] === 'string',
  // windows/version-media.ts: the file name is joined to STORAGE, so it must stay a plain name.
  windows: (v) =>
    isObject(v) &&
    typeof v['version'] === 'string' &&
    typeof v['language'] === 'string' &&
    typeof v['fileName'] === 'string' &&
    /^[^/\\]+$/.test(v['fileName']) &&
    !v['fileName'].startsWith('.') &&
    optional(v['mediaLanguage'], 'string') &&
    optional(v['source'], 'string'),
};

export function judgeStateText(text: string): StateVerdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return salvageText(text, `it is not JSON (${(error as Error).message})`);
  }
  if (!isObject(parsed)) return { kind: 'corrupt', reason: 'it is not a JSON object', state: { schema: 1 }, recovered: [], dropped: [] };
  if (typeof parsed['schema'] === 'number' && parsed['schema'] > 1) return { kind: 'newer', schema: parsed['schema'] };
  const state: Stored = { ...parsed, schema: 1 };
  const dropped: string[] = [];
  for (const [name, check] of Object.entries(FIELD_CHECKS)) {
    if (name in parsed && !check(parsed[name])) {
      dropped.push(name);
      delete state[name];
    }
  }
  const badSchema = parsed['schema'] !== 1;
  if (!badSchema && dropped.length === 0) return { kind: 'ok', state };
  const reasons = [...(badSchema ? [`its schema is ${JSON.stringify(parsed['schema'])}, expected 1`] : []), ...(dropped.length ? [`${dropped.join(', ')} failed their check`] : [])];
  return {
    kind: 'corrupt',
    reason: reasons.join('; '),
    state,
    recovered: Object.keys(FIELD_CHECKS).filter((name) => name in state),
    dropped,
  };
}

/**
 * A file that does not parse (truncated, overwritten in part): each known fact is looked for on
 * its own — a string field as `"name": "…"`, an object field as a flat `"name": {…}` — and kept
 * when it parses and passes its check. A truncated file keeps the facts written before the cut.
 */
function salvageText(text: string, reason: string): StateVerdict {
  const state: Stored = { schema: 1 };
  const recovered: string[] = [];
  const dropped: string[] = [];
  for (const [name, check] of Object.entries(FIELD_CHECKS)) {
    const match = new RegExp(`"${name}"\\s*:\\s*("(?:[^"\\\\\\n]|\\\\.)*"|\\{[^{}]*\\})`).exec(text);
    if (!match) {
      if (new RegExp(`"${name}"\\s*:`).test(text)) dropped.push(name);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(match[1] as string);
    } catch {
      value = undefined;
    }
    if (check(value)) {
      state[name] = value;
      recovered.push(name);
    } else {
      dropped.push(name);
    }
  }
  return { kind: 'corrupt', reason, state, recovered, dropped };
}
