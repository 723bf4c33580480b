/**
 * Pure value parsers, one per kind of setting. Each takes the variable's name (for the message)
 * and its raw text, and either returns the typed value or throws `invalidSetting` naming the
 * variable, the value and the accepted form (house rule 4).
 */
import { AppError, invalidSetting } from '../core/errors.js';

/**
 * What a parser may need besides the text: the host's capacity (for dockur's `half`/`max`, passed
 * in so that parsing stays pure) and a sink for warnings (a value accepted, but read differently
 * from what its spelling suggests).
 */
export interface ParseContext {
  /** undefined where the caller did not probe the host (then `half`/`max` are refused). */
  host: HostCapacity | undefined;
  warn: (message: string) => void;
}

/** CPUs and memory available to the container (src/host/probe.ts probeCapacity). */
export interface HostCapacity {
  cpus: number;
  memoryBytes: number;
}

export const NO_CONTEXT: ParseContext = { host: undefined, warn: () => {} };

/** `ctx` is optional: most parsers need only the text. */
export type Parser<T> = (raw: string, name: string, ctx?: ParseContext) => T;

const SIZE_UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * "4G", "512M", "1.5T", "4GB", "4 GiB" → bytes, in binary units as QEMU and dockur read them.
 * A unit is required: a bare "4096" is MiB to QEMU but bytes to qemu-img, so it is refused.
 */
export function parseSize(raw: string, name: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt])(?:i?b)?\s*$/i.exec(raw);
  const bytes = match ? Math.floor(Number(match[1]) * (SIZE_UNITS[match[2]!.toUpperCase()] ?? 0)) : 0;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw invalidSetting(name, raw, 'a size such as "512M", "4G" or "1T"');
  }
  return bytes;
}

/**
 * Bytes → a size as the settings write it, exactly: the largest unit in which the value is whole
 * ("64G", "1536M", "100 bytes"), so that a hint such as "Set DISK_SIZE to 64G" can be pasted and
 * parses back to the same bytes. When that exact form is long (a size that is whole only in K),
 * a rounded reading follows it: "3355443K (about 3.2G)".
 */
export function formatSize(bytes: number): string {
  const units = Object.entries(SIZE_UNITS).sort(([, a], [, b]) => b - a);
  const exact = units.find(([, size]) => bytes >= size && bytes % size === 0);
  const text = exact ? `${bytes / exact[1]}${exact[0]}` : `${bytes} bytes`;
  const largest = units.find(([, size]) => bytes >= size);
  if (!largest || largest === exact || text.length <= 5) return text;
  return `${text} (about ${(bytes / largest[1]).toFixed(1)}${largest[0]})`;
}

export function sizeParser(min: number, minText: string): Parser<number> {
  return (raw, name) => {
    const bytes = parseSize(raw, name);
    if (bytes < min) throw invalidSetting(name, raw, `a size of at least ${minText}`);
    return bytes;
  };
}

export function intParser(min: number, max: number, form: string): Parser<number> {
  return (raw, name) => {
    const text = raw.trim();
    if (!/^-?\d+$/.test(text)) throw invalidSetting(name, raw, form);
    const value = Number(text);
    if (value < min || value > max) throw invalidSetting(name, raw, form);
    return value;
  };
}

const TRUE = new Set(['y', 'yes', 'true', '1', 'on']);
const FALSE = new Set(['n', 'no', 'false', '0', 'off']);

/** dockur's Y/N, plus the spellings people type in compose files. */
export function parseBool(raw: string, name: string): boolean {
  const text = raw.trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  throw invalidSetting(name, raw, '"Y" or "N"');
}

export function enumParser<const T extends string>(values: readonly T[]): Parser<T> {
  return (raw, name) => {
    const text = raw.trim().toLowerCase();
    const found = values.find((v) => v === text);
    if (!found) throw invalidSetting(name, raw, `one of ${values.map((v) => `"${v}"`).join(', ')}`);
    return found;
  };
}

export function parseText(raw: string): string {
  return raw;
}

export function parsePort(raw: string, name: string): number {
  return intParser(1, 65535, 'a port number from 1 to 65535')(raw, name);
}

export interface PortRule {
  from: number;
  to: number;
  protocol: 'tcp' | 'udp' | 'both';
}

/** "3389", "80,443", "5900-5910/tcp", "53/udp" → port rules. Empty text is an empty list. */
export function parsePortList(raw: string, name: string): PortRule[] {
  const form = 'a comma-separated list of ports or ranges such as "80,443,5900-5910/tcp"';
  const rules: PortRule[] = [];
  for (const part of raw.split(/[,\s]+/).filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/i.exec(part);
    if (!match) throw invalidSetting(name, raw, form);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (from < 1 || to > 65535 || to < from) throw invalidSetting(name, raw, form);
    rules.push({ from, to, protocol: (match[3]?.toLowerCase() as 'tcp' | 'udp' | undefined) ?? 'both' });
  }
  return rules;
}

/**
 * Splits ARGUMENTS into argv words the way a user writing a compose file expects: whitespace
 * separates, single and double quotes group, backslash escapes. Nothing is expanded or executed;
 * the words go to QEMU as an argv array (house rule: no shell strings).
 */
export function parseWords(raw: string, name: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < raw.length) word += raw[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < raw.length) {
      word += raw[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw invalidSetting(name, raw, 'QEMU arguments with balanced quotes');
  if (inWord) words.push(word);
  return words;
}

export function parseMac(raw: string, name: string): string {
  const text = raw.trim().toLowerCase().replace(/-/g, ':');
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(text)) {
    throw invalidSetting(name, raw, 'a MAC address such as "02:00:00:12:34:56"');
  }
  // The low bit of the first octet marks multicast; a guest NIC must be unicast.
  if (parseInt(text.slice(0, 2), 16) & 1) throw invalidSetting(name, raw, 'a unicast MAC address (even first octet)');
  return text;
}

export function parseSha256(raw: string, name: string): string {
  const text = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(text)) throw invalidSetting(name, raw, 'a SHA-256 digest of 64 hexadecimal digits');
  return text;
}

export const WEB_TOKEN_MIN_LENGTH = 16;
/** RFC 3986 §2.3 unreserved characters: safe unescaped in a URL query and in a cookie value (RFC 6265 §4.1.1). */
const TOKEN_CHARACTER = /[A-Za-z0-9._~-]/;

/**
 * Why a viewer token is unusable, in words that do not reveal it (its length, or the class and
 * position of the first bad character), or undefined when it is fine. Shared by WEB_TOKEN and
 * the token kept in windock.json.
 */
export function webTokenProblem(token: string): string | undefined {
  if (token.length < WEB_TOKEN_MIN_LENGTH) return `${token.length} characters`;
  const index = [...token].findIndex((c) => !TOKEN_CHARACTER.test(c));
  if (index < 0) return undefined;
  const c = [...token][index] as string;
  const kind = /\s/.test(c)
    ? 'whitespace'
    : c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f
      ? 'a control character'
      : c.charCodeAt(0) > 0x7f
        ? 'a non-ASCII character'
        : 'punctuation other than . _ ~ -';
  return `${kind} at character ${index + 1}`;
}

/** The message never holds the token itself: it is a secret even when it is a bad one. */
export function parseWebToken(raw: string, name: string): string {
  const problem = webTokenProblem(raw);
  if (problem === undefined) return raw;
  throw new AppError('config', `${name} must be at least ${WEB_TOKEN_MIN_LENGTH} characters from A-Z a-z 0-9 . _ ~ -, got ${problem}`, {
    hint: `Generate one with \`openssl rand -hex 32\`, or leave ${name} unset for a random token kept in STORAGE.`,
    details: { variable: name, length: raw.length },
  });
}
