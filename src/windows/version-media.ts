/**
 * The Windows layer's answer to the storage stage's question "VERSION → which media?"
 * (`ResolveVersionMedia` in src/storage/prepare.ts). Order:
 *  1. an ISO the user mounted at /boot.iso or /custom.iso (iso-choice.ts reads which Windows it is);
 *  2. an ISO windock downloaded for the same VERSION and LANGUAGE before (windock.json), so a
 *     restart never asks Microsoft again — repeated link requests are what earn the IP ban;
 *  3. VERSION as a URL, passed through;
 *  4. the catalog entry's download routes (microsoft-download.ts).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stateSlice } from '../state/state-file.js';
import type { RunContext } from '../supervisor/context.js';
import { resolveVersion } from './catalog.js';
import { resolveLanguage } from './languages.js';
import {
  ConsumerDownloadClient,
  EvalCenterClient,
  resolveWindowsMedia,
  type ClientOptions,
  type MediaResolverDeps,
} from './microsoft-download.js';
import { defaultUserMediaPaths, findUserMedia, misplacedHint, type UserMediaPaths } from './user-media.js';

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
  language: string;
  fileName: string;
}

/** This module's slice of windock.json. */
export const WINDOWS_DOWNLOAD = stateSlice<WindowsDownloadRecord>('windows');

export interface VersionMediaDeps {
  resolver: MediaResolverDeps;
  /** Paths scanned for a user ISO; defaults to /boot.iso, STORAGE and /. */
  userMediaPaths?: (storageDir: string, ownFiles: readonly string[]) => UserMediaPaths;
}

export function defaultVersionMediaDeps(options: ClientOptions = {}): VersionMediaDeps {
  return { resolver: { consumer: new ConsumerDownloadClient(options), evalcenter: new EvalCenterClient(options), ...(options.log ? { log: options.log } : {}) } };
}

export function windowsVersionMedia(deps: VersionMediaDeps): (version: string, ctx: RunContext) => Promise<MediaSource> {
  return async (version, ctx) => {
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

    const resolved = resolveVersion(version);
    if (resolved.kind === 'url') return { kind: 'url', url: resolved.url };
    const language = resolveLanguage(ctx.config.language);

    if (record && record.version === resolved.entry.key && record.language === language.culture) {
      const path = join(ctx.config.storage, record.fileName);
      if (await isNonEmptyFile(path)) {
        log.info({ path, version: record.version }, 'reusing the Windows ISO downloaded before');
        return { kind: 'path', path };
      }
    }

    log.info({ version: resolved.entry.key, product: resolved.entry.product, language: language.culture }, 'asking Microsoft for the Windows download link');
    const target = await resolveWindowsMedia(resolved.entry, language, deps.resolver, ctx.signal);
    log.info({ route: target.route, file: target.fileName, size: target.size, verified: target.sha256 !== undefined }, 'Windows download link found');
    await WINDOWS_DOWNLOAD.write(ctx.state, { version: resolved.entry.key, language: language.culture, fileName: target.fileName });
    return { kind: 'url', url: target.url, fileName: target.fileName, ...(target.sha256 ? { sha256: target.sha256 } : {}) };
  };
}

async function isNonEmptyFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    return info.isFile() && info.size > 0;
  } catch {
    return false;
  }
}
