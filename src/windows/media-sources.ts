/**
 * Where a Windows ISO comes from when Microsoft refuses: the ordered sources of a catalog entry
 * for a language, and the decision "which source next, given what failed so far". Pure: the loop
 * that looks links up and downloads is version-media.ts.
 *
 * The order follows dockur/windows src/mido.sh `downloadImage`: the live Microsoft flow (the
 * consumer download API or the Evaluation Center) with one retry, Microsoft's static links, the
 * ESD catalog, then each mirror; when the language is not English and all of them fail, the same
 * list again for English media (`fallbackEnglish`: the user's REGION and KEYBOARD stay). A failed
 * download falls through like a failed link lookup. Every file is verified against a pinned
 * SHA-256, except what the live flow hands out (Microsoft's own TLS, no digest published) and the
 * ESD, verified against the SHA-1 of Microsoft's catalog before it is built into an ISO
 * (esd-media.ts).
 */
import { AppError } from '../core/errors.js';
import { publicUrl } from '../storage/media.js';
import type { CatalogEntry, MediaRoute } from './catalog.js';
import { LANGUAGES, type WindowsLanguage } from './languages.js';

export interface PlannedSource {
  route: MediaRoute;
  /** For logs and the final error: "Microsoft download flow (windows11)", "mirror https://m/x.iso". */
  label: string;
  /** The language of the media this source gives. */
  language: WindowsLanguage;
  /** True when it gives English media for a user who asked for another language. */
  fallback: boolean;
  /** Link lookups allowed: the live flows get one retry. */
  lookups: number;
  /** Known before any lookup (static, mirror). */
  url?: string;
  sha256?: string;
  size?: number;
  /** Listed but never used, and why. */
  skip?: string;
}

/** One thing that happened to a source, in order. */
export interface SourceAttempt {
  index: number;
  stage: 'skipped' | 'lookup' | 'download';
  reason: string;
  /** The file's URL without query (download stage). */
  url?: string;
  /** Microsoft refused the caller's address (the IP ban). */
  banned?: boolean;
  /** An answer a retry cannot change (no media in the language). */
  definitive?: boolean;
}

export type SourceStep = { kind: 'try'; index: number; retry: boolean } | { kind: 'skip'; index: number; reason: string };

const ENGLISH = LANGUAGES.find((l) => l.culture === 'en-US')!;
const DIGEST = /^[0-9a-f]{64}$/;
const RANK: Record<MediaRoute['kind'], number> = { consumer: 0, evalcenter: 0, static: 1, esd: 2, mirror: 3 };

/** The entry's sources for the language, in the order they are tried. */
export function planSources(entry: CatalogEntry, language: WindowsLanguage, mirrors: readonly string[]): PlannedSource[] {
  const routes = entry.routes.map((route, i) => ({ route, i })).sort((a, b) => RANK[a.route.kind] - RANK[b.route.kind] || a.i - b.i).map((r) => r.route);
  const pass = (lang: WindowsLanguage, fallback: boolean) => routes.flatMap((route) => sourcesOf(route, lang, fallback, mirrors));
  if (language.culture === ENGLISH.culture) return pass(ENGLISH, false);
  return [...pass(language, false), ...pass(ENGLISH, true)];
}

function sourcesOf(route: MediaRoute, language: WindowsLanguage, fallback: boolean, mirrors: readonly string[]): PlannedSource[] {
  const base = { route, language, fallback, lookups: 1 };
  switch (route.kind) {
    case 'consumer':
      return [{ ...base, label: `Microsoft download flow (${route.page}, ${language.culture})`, lookups: 2 }];
    case 'evalcenter':
      return [
        {
          ...base,
          label: `Evaluation Center (${route.page}, ${language.culture})`,
          lookups: 2,
          ...(language.evalCulture ? {} : { skip: `the Evaluation Center offers no ${language.name} media` }),
        },
      ];
    case 'esd':
      return [{ ...base, label: `Microsoft ESD catalog (${route.product} ${route.edition}, ${language.culture})` }];
    case 'static': {
      if (route.culture !== language.culture) return [];
      const pinned = route.sha256 !== undefined && DIGEST.test(route.sha256);
      return [{ ...base, label: `Microsoft static link ${route.url}`, url: route.url, ...pinned ? { sha256: route.sha256 } : { skip: 'no SHA-256 is pinned for it' }, ...size(route.size) }];
    }
    case 'mirror': {
      if (route.culture !== language.culture) return [];
      if (!DIGEST.test(route.sha256)) return [{ ...base, label: `mirror file ${route.file}`, skip: 'no SHA-256 is pinned for it: a mirror is never trusted without one' }];
      if (mirrors.length === 0) return [{ ...base, label: `mirror file ${route.file}`, skip: 'MIRRORS is not set' }];
      return mirrors.map((m) => {
        const url = `${m.replace(/\/+$/, '')}/${route.file}`;
        // The label is logged and recorded: a base URL's user info or query (credentials) stays out.
        return { ...base, label: `mirror ${publicUrl(url)}`, url, sha256: route.sha256, ...size(route.size) };
      });
    }
  }
}

const size = (value: number | undefined) => (value === undefined ? {} : { size: value });

/**
 * The next step, given the attempts so far; undefined when every source is used up. A source is
 * used up once it was skipped, its download failed, or its lookups ran out. A live flow is not
 * retried after a definitive answer (no media in the language), nor after Microsoft refused the
 * address (asking again does not lift the ban and may extend it), and no later live Microsoft
 * flow is asked then either. A file that failed already is not fetched again under another
 * source's name.
 */
export function nextSource(plan: readonly PlannedSource[], attempts: readonly SourceAttempt[]): SourceStep | undefined {
  const banned = attempts.some((a) => a.banned);
  const failedUrls = new Set(attempts.filter((a) => a.stage === 'download' && a.url).map((a) => a.url));
  for (const [index, source] of plan.entries()) {
    const own = attempts.filter((a) => a.index === index);
    if (own.some((a) => a.stage !== 'lookup')) continue;
    if (own.length === 0) {
      if (source.skip) return { kind: 'skip', index, reason: source.skip };
      if (banned && source.route.kind === 'consumer') return { kind: 'skip', index, reason: 'Microsoft already refused this address' };
      if (source.url && failedUrls.has(stripQuery(source.url))) return { kind: 'skip', index, reason: 'the same file failed already' };
      return { kind: 'try', index, retry: false };
    }
    if (own.length < source.lookups && !own.some((a) => a.banned || a.definitive)) return { kind: 'try', index, retry: true };
  }
  return undefined;
}

/** The URL as attempts record it: without query (tokens) or fragment. */
export function stripQuery(url: string): string {
  return url.replace(/[?#].*$/, '');
}

/** The README's "sources, in order" column for an entry (English media). */
export function sourceOrderText(entry: CatalogEntry): string {
  const names: Record<MediaRoute['kind'], string> = {
    consumer: 'Microsoft download flow',
    evalcenter: 'Evaluation Center',
    static: 'Microsoft static link',
    esd: 'Microsoft ESD catalog (built into an ISO)',
    mirror: 'mirror (MIRRORS)',
  };
  const kinds = planSources(entry, ENGLISH, ['m']).map((s) => names[s.route.kind]);
  return kinds.filter((k, i) => kinds[i - 1] !== k).join(' → ');
}

/** Exit 4 once every source failed: each one named with why, and the ways out. */
export function sourcesExhausted(entry: CatalogEntry, language: WindowsLanguage, plan: readonly PlannedSource[], attempts: readonly SourceAttempt[]): AppError {
  const lines = attempts.map((a) => `${plan[a.index]?.label ?? `source ${a.index}`}: ${a.stage === 'skipped' ? 'skipped, ' : a.stage === 'lookup' ? 'link lookup failed, ' : 'download failed, '}${a.reason}`);
  const banned = attempts.some((a) => a.banned);
  return new AppError('media', `every download source of ${entry.product} in ${language.name} failed: ${lines.join('; ')}`, {
    hint:
      (banned ? 'Microsoft blocks automated downloads from your IP address for about a day; retrying at once does not help. ' : '') +
      'Download the ISO yourself and mount it at /boot.iso (e.g. "-v ./win.iso:/boot.iso:ro") or set BOOT to its path or URL, ' +
      'or set MIRRORS to the base URL of a mirror holding the files the catalog pins.',
    details: { version: entry.key, language: language.culture, sources: attempts.map((a) => ({ source: plan[a.index]?.label, stage: a.stage, reason: a.reason })) },
  });
}

/**
 * The digest and size of a file the live flow handed out, when the catalog pins the same file as
 * a static link (dockur/windows `downloadImage`: "Apply the metadata belonging to the configured
 * static URL").
 */
export function pinnedFor(entry: CatalogEntry, url: string): { sha256?: string; size?: number } {
  const wanted = stripQuery(url).toLowerCase();
  const route = entry.routes.find((r) => r.kind === 'static' && stripQuery(r.url).toLowerCase() === wanted);
  if (route?.kind !== 'static' || route.sha256 === undefined || !DIGEST.test(route.sha256)) return {};
  return { sha256: route.sha256, ...size(route.size) };
}
