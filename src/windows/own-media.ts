/**
 * Your own ISO, read when the Windows profile is made (before storage), so that firmware, devices
 * and NIC of a new disk suit the Windows it holds — and read once: the Windows stage reuses what
 * was read here for the ISO it attaches (iso-choice.ts `installMediaDecision`).
 *
 * Which ISO:
 *  - BOOT=<path>.iso, else /boot.iso or /custom.iso (user-media.ts): the local file;
 *  - BOOT=<URL>.iso or VERSION=<URL>: its completed download in STORAGE when there is one; else,
 *    when no system disk exists yet (an existing disk keeps the firmware it was made with, and no
 *    download comes for it), the remote ISO's metadata through range requests
 *    (http-byte-source.ts). A remote read that fails leaves the profile as it was before windock
 *    could read it: the caller logs why.
 */
import { join } from 'node:path';
import type { Config } from '../config/options.js';
import { errorMessage } from '../core/errors.js';
import { bootIsIso } from '../guest/profile.js';
import { isUrl, publicUrl, urlDownloadName } from '../storage/media.js';
import { SYSTEM_DISK_FILES } from '../storage/prepare.js';
import type { RangeRequest, RemoteMetadata } from './http-byte-source.js';
import { readMediaMetadata, type MediaMetadata } from './iso-choice.js';
import { defaultUserMediaPaths, findUserMedia, isNonEmptyFile, type UserMediaPaths } from './user-media.js';
import type { IsoMetadata } from './wim-metadata.js';

export type OwnMedia =
  | { where: 'local'; path: string; metadata: MediaMetadata }
  /** `url` as it may be shown (publicUrl); `requests`: what the read cost, when it worked. */
  | { where: 'remote'; url: string; metadata: MediaMetadata; requests: RangeRequest[] }
  /** A URL whose ISO is not read now, and why (a debug line). */
  | { where: 'later'; url: string; reason: string };

export interface OwnMediaDeps {
  readLocal?: (path: string) => Promise<IsoMetadata>;
  readRemote?: (url: string, signal: AbortSignal | undefined) => Promise<RemoteMetadata>;
  userMediaPaths?: (storageDir: string) => UserMediaPaths;
}

/** Your own ISO's metadata, or undefined when the configuration names none (VERSION a catalog key, BOOT no ISO). */
export async function readOwnMedia(config: Pick<Config, 'boot' | 'version' | 'storage'>, signal?: AbortSignal, deps: OwnMediaDeps = {}): Promise<OwnMedia | undefined> {
  const local = async (path: string): Promise<OwnMedia> => ({ where: 'local', path, metadata: await readMediaMetadata(path, deps.readLocal) });
  let url: string | undefined;
  if (config.boot) {
    if (!bootIsIso(config.boot)) return undefined;
    if (!isUrl(config.boot)) return local(config.boot);
    url = config.boot;
  } else {
    // An ISO you mounted wins over VERSION, as in version-media.ts.
    const found = await findUserMedia((deps.userMediaPaths ?? defaultUserMediaPaths)(config.storage));
    if (found.kind === 'found') return local(found.path);
    if (!isUrl(config.version)) return undefined;
    url = config.version;
  }
  const download = join(config.storage, urlDownloadName(url));
  if (await isNonEmptyFile(download)) return local(download);
  const shown = publicUrl(url);
  for (const { file } of SYSTEM_DISK_FILES) {
    if (await isNonEmptyFile(join(config.storage, file))) return { where: 'later', url: shown, reason: `${file} exists: it keeps the firmware it was made with, and no download comes for it` };
  }
  try {
    const read = deps.readRemote ?? (async (u: string, s: AbortSignal | undefined) => (await import('./http-byte-source.js')).readRemoteIsoMetadata(u, { signal: s }));
    const remote = await read(url, signal);
    return { where: 'remote', url: shown, metadata: remote.metadata, requests: remote.requests };
  } catch (error) {
    // Whatever went wrong (a stop request included) leaves the run as before: the ISO is read after its download.
    return { where: 'remote', url: shown, metadata: { kind: 'unreadable', error: errorMessage(error) }, requests: [] };
  }
}
