/**
 * The Windows layer's answer to the storage stage's question "VERSION → which media?"
 * (`ResolveVersionMedia` in src/storage/prepare.ts). Order:
 *  1. an ISO the user mounted at /boot.iso or /custom.iso (iso-choice.ts reads which Windows it is);
 *  2. an ISO windock downloaded for the same VERSION and LANGUAGE before (windock.json), so a
 *     restart never asks Microsoft again — repeated link requests are what earn the IP ban;
 *  3. VERSION as a URL, passed through;
 *  4. the catalog entry's sources (media-sources.ts decides which comes next; this module looks
 *     links up and downloads through the storage stage's `fetchMedia`, one source after another,
 *     until one file arrives verified). The ESD catalog's file is built into an ISO once
 *     downloaded (esd-media.ts); an ISO built before from the same ESD is used without a download.
 */
import { basename, join, resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/options.js';
import { AppError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { stateSlice } from '../state/state-file.js';
import { fileNameFromUrl, publicUrl } from '../storage/media.js';
import { safeDownloadName, type FetchMedia } from '../storage/prepare.js';
import type { RunContext } from '../supervisor/context.js';
import { resolveVersion, type CatalogEntry, type ResolvedVersion } from './catalog.js';
import { regionalLocale, resolveLanguage, type WindowsLanguage } from './languages.js';
import { checkRoomForEsd, EsdCatalogClient, isoFromEsd, isoNameFor } from './esd-media.js';
import { nextSource, pinnedFor, planSources, sourcesExhausted, stripQuery, type PlannedSource, type SourceAttempt } from './media-sources.js';
import { ConsumerDownloadClient, EvalCenterClient, MicrosoftBlockedError, NoLocalizedMediaError, type ClientOptions } from './microsoft-download.js';
import { defaultUserMediaPaths, findUserMedia, isNonEmptyFile, misplacedHint, type UserMediaPaths } from './user-media.js';

/**
 * Structurally the storage stage's `MediaSource` (src/storage/media.ts), restated here so that this
 * module does not depend on the storage module's layout.
 */
export type MediaSource =
  | { kind: 'url'; url: string; sha256?: string | undefined; fileName?: string | undefined }
  | { kind: 'path'; path: string };

/** What windock.json remembers of a Windows download (key `windows`). */
export interface WindowsDownloadRecord {
  version: string;
  /** The language asked for (LANGUAGE). */
  language: string;
  fileName: string;
  /** The media's own language when it differs (English fallback); the answer file must use it. */
  mediaLanguage?: string;
  /** Which source gave the file, for the logs of later starts. */
  source?: string;
}

/** This module's slice of windock.json. */
export const WINDOWS_DOWNLOAD = stateSlice<WindowsDownloadRecord>('windows');

/** Microsoft's link lookups (tests point them at a local replay server). */
export interface MicrosoftClients {
  consumer: Pick<ConsumerDownloadClient, 'getLink'>;
  evalcenter: Pick<EvalCenterClient, 'getLink'>;
  esd: Pick<EsdCatalogClient, 'getFile'>;
}

export interface VersionMediaDeps {
  microsoft: MicrosoftClients;
  /** Paths scanned for a user ISO; defaults to /boot.iso, STORAGE and /. */
  userMediaPaths?: (storageDir: string, ownFiles: readonly string[]) => UserMediaPaths;
  /** VERSION → catalog entry; tests give entries whose links point at local servers. */
  resolve?: (version: string) => ResolvedVersion;
  /** Pause before a live flow's one retry (dockur waits 5 s). */
  retryDelayMs?: number;
}

export function defaultVersionMediaDeps(options: ClientOptions = {}): VersionMediaDeps {
  const esd = new EsdCatalogClient({ ...(options.endpoints ? { fwlink: options.endpoints.fwlink } : {}), ...(options.fetch ? { fetch: options.fetch } : {}) });
  return { microsoft: { consumer: new ConsumerDownloadClient(options), evalcenter: new EvalCenterClient(options), esd } };
}

export function windowsVersionMedia(deps: VersionMediaDeps): (version: string, ctx: RunContext, fetchMedia: FetchMedia) => Promise<MediaSource> {
  return async (version, ctx, fetchMedia) => {
    const log = ctx.log.child({ component: 'windows' });
    const record = await WINDOWS_DOWNLOAD.read(ctx.state);
    const pathsFor = deps.userMediaPaths ?? defaultUserMediaPaths;
    const user = await findUserMedia(pathsFor(ctx.config.storage, record ? [record.fileName] : []));
    if (user.kind === 'found') {
      log.info({ path: user.path, size: user.size }, 'using your own ISO; the Windows it holds is read from it');
      return { kind: 'path', path: user.path };
    }
    const hint = misplacedHint(user.misplaced);
    if (hint) log.warn({ misplaced: user.misplaced }, hint);

    const resolved = (deps.resolve ?? resolveVersion)(version);
    if (resolved.kind === 'url') return { kind: 'url', url: resolved.url };
    const language = resolveLanguage(ctx.config.language);

    if (record && record.version === resolved.entry.key && record.language === language.culture) {
      const path = join(ctx.config.storage, record.fileName);
      if (await isNonEmptyFile(path)) {
        log.info({ path, version: record.version, source: record.source }, 'reusing the Windows ISO downloaded before');
        return { kind: 'path', path };
      }
    }
    const { path, source } = await downloadFromSources(resolved.entry, language, ctx, fetchMedia, deps, log);
    await WINDOWS_DOWNLOAD.write(ctx.state, {
      version: resolved.entry.key,
      language: language.culture,
      fileName: basename(path),
      ...(source.language.culture === language.culture ? {} : { mediaLanguage: source.language.culture }),
      source: source.label,
    });
    return { kind: 'path', path };
  };
}

/** The loop: the next source as media-sources.ts decides, until one file arrives verified. */
async function downloadFromSources(
  entry: CatalogEntry,
  language: WindowsLanguage,
  ctx: RunContext,
  fetchMedia: FetchMedia,
  deps: VersionMediaDeps,
  log: Logger,
): Promise<{ path: string; source: PlannedSource }> {
  const plan = planSources(entry, language, ctx.config.mirrors);
  const attempts: SourceAttempt[] = [];
  let warnedFallback = false;
  for (let step = nextSource(plan, attempts); step; step = nextSource(plan, attempts)) {
    const source = plan[step.index]!;
    if (step.kind === 'skip') {
      log.info({ source: source.label, reason: step.reason }, 'download source skipped');
      attempts.push({ index: step.index, stage: 'skipped', reason: step.reason });
      continue;
    }
    if (source.fallback && !warnedFallback) {
      warnedFallback = true;
      log.warn({ asked: language.culture, used: source.language.culture, version: entry.key }, 'no media in the language asked could be had: falling back to English media; REGION and KEYBOARD keep the language asked');
    }
    if (step.retry) await sleep(deps.retryDelayMs ?? 5000, undefined, { signal: ctx.signal }).catch(() => ctx.signal.throwIfAborted());
    let target: Target;
    try {
      log.info({ source: source.label, retry: step.retry }, 'trying a download source');
      target = await lookUp(source, entry, deps.microsoft, ctx, log);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      const kind = error instanceof MicrosoftBlockedError ? { banned: true } : error instanceof NoLocalizedMediaError ? { definitive: true } : {};
      attempts.push({ index: step.index, stage: 'lookup', reason: errorMessage(error), ...kind });
      log.warn({ source: source.label, reason: errorMessage(error) }, 'download link lookup failed; trying the next source');
      continue;
    }
    try {
      const path = target.built ?? (await obtain(target, fetchMedia));
      log.info({ source: source.label, path, verified: target.verified, language: source.language.culture }, 'Windows media downloaded');
      return { path, source };
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      attempts.push({ index: step.index, stage: 'download', url: stripQuery(target.url), reason: errorMessage(error) });
      log.warn({ source: source.label, url: publicUrl(target.url), reason: errorMessage(error) }, 'download failed; trying the next source');
    }
  }
  throw sourcesExhausted(entry, language, plan, attempts);
}

const ISO_FALLBACK_NAME = 'windows.iso';

async function obtain(target: Target, fetchMedia: FetchMedia): Promise<string> {
  await target.beforeDownload?.();
  return target.finish(await fetchMedia({ url: target.url, fileName: target.fileName, sha256: target.sha256 }));
}

/** What a source's lookup gives: the file to download and what makes it the ISO. */
interface Target {
  url: string;
  fileName: string;
  sha256?: string | undefined;
  /** How the file is verified, for the log line ("SHA-256"), or false when it is not. */
  verified: string | false;
  /** A check before the download (room for the ESD's conversion too). */
  beforeDownload?: () => Promise<void>;
  /** The downloaded file → the ISO's path (the ESD is built into one). */
  finish: (path: string) => Promise<string>;
  /** An ISO built before from the same file: no download. */
  built?: string;
}

async function lookUp(source: PlannedSource, entry: CatalogEntry, microsoft: MicrosoftClients, ctx: RunContext, log: Logger): Promise<Target> {
  const { route } = source;
  const asIs = async (path: string) => path;
  switch (route.kind) {
    case 'consumer':
    case 'evalcenter': {
      const link = route.kind === 'consumer' ? await microsoft.consumer.getLink(route.page, source.language, ctx.signal) : await microsoft.evalcenter.getLink(route.page, route.linkIndex, source.language, ctx.signal);
      const pinned = pinnedFor(entry, link.url).sha256;
      return { url: link.url, fileName: link.fileName, ...(pinned ? { sha256: pinned } : {}), verified: pinned ? 'SHA-256' : false, finish: asIs };
    }
    case 'static':
    case 'mirror':
      if (source.url && source.sha256) return { url: source.url, fileName: fileNameFromUrl(source.url, ISO_FALLBACK_NAME), sha256: source.sha256, verified: 'SHA-256', finish: asIs };
      break;
    case 'esd': {
      const storage = ctx.config.storage;
      const file = await microsoft.esd.getFile(route, source.language, storage, ctx.signal);
      const fileName = safeDownloadName(fileNameFromUrl(file.url, basename(file.fileName) || 'windows.esd'));
      const iso = join(storage, isoNameFor(fileName));
      // Renamed into place whole: an ISO under this name is a finished conversion.
      if (await isNonEmptyFile(iso)) return { url: file.url, fileName, verified: 'built before from a verified ESD', finish: asIs, built: iso };
      const build = { file, edition: entry.edition, route, iso, signal: ctx.signal, log };
      return {
        url: file.url,
        fileName,
        verified: "SHA-1 from Microsoft's ESD catalog",
        beforeDownload: () => checkRoomForEsd(storage, join(storage, fileName), file),
        finish: (path) => isoFromEsd(path, build),
      };
    }
  }
  throw new AppError('internal', `${source.label} was tried although it cannot be downloaded`);
}

/**
 * The settings the answer file is built from once the media is known: when the download fell back
 * to English media, Setup must be given the media's language, and the user's formats and keyboard
 * stay those of the language asked (dockur/windows `fallbackEnglish`). Pure.
 */
export function withMediaLanguage<C extends Pick<Config, 'language' | 'region' | 'keyboard' | 'storage'>>(config: C, record: WindowsDownloadRecord | undefined, mediaPath: string | undefined): C {
  if (!record?.mediaLanguage || record.language !== resolveLanguage(config.language).culture) return config;
  // Only for the recorded download itself: an ISO the user mounted later says nothing of it.
  if (mediaPath === undefined || resolvePath(mediaPath) !== resolvePath(config.storage, record.fileName)) return config;
  const asked = regionalLocale(config.language) ?? record.language;
  const region = config.region ?? asked;
  return { ...config, language: record.mediaLanguage, region, keyboard: config.keyboard ?? region };
}

/** The settings the answer file is built from for the install media attached (withMediaLanguage). */
export async function answerConfig(ctx: RunContext, drives: readonly { media: string; path: string }[]): Promise<Config> {
  return withMediaLanguage(ctx.config, await WINDOWS_DOWNLOAD.read(ctx.state), drives.find((d) => d.media === 'cdrom')?.path);
}
