/**
 * An ISO the user supplied by mounting it into the container. windock reads two documented
 * places, `/boot.iso` and then dockur's `/custom.iso`, so that nothing is guessed; ISOs mounted
 * where windock does not look (a differently named `.iso` in STORAGE or in `/`) are reported with
 * a hint instead of being silently ignored or silently used. Which Windows the ISO holds is read
 * from it later (iso-choice.ts).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

export const USER_ISO_PATH = '/boot.iso';
/** dockur/windows' name for a user ISO ("-v ./win.iso:/custom.iso"). */
export const DOCKUR_ISO_PATH = '/custom.iso';

export type UserMedia =
  | { kind: 'found'; path: string; size: number }
  /** `misplaced`: ISO files that look mounted for windock but sit where it does not read. */
  | { kind: 'none'; misplaced: string[] };

export interface UserMediaPaths {
  /** `/boot.iso` in the container. */
  bootIso: string;
  /** STORAGE: `.iso` files there that windock did not download are reported. */
  storageDir: string;
  /** Directory scanned for stray `.iso` mounts (the container's `/`). */
  rootDir: string;
  /** Paths other projects document that windock also uses, after bootIso (dockur/windows: `/custom.iso`). */
  alsoUsed?: readonly string[];
  /** Paths other projects document that windock reports but does not use. */
  knownOtherPaths: readonly string[];
  /** File names in STORAGE that are windock's own downloads. */
  ownFiles: readonly string[];
}

export function defaultUserMediaPaths(storageDir: string, ownFiles: readonly string[] = []): UserMediaPaths {
  return { bootIso: USER_ISO_PATH, alsoUsed: [DOCKUR_ISO_PATH], storageDir, rootDir: '/', knownOtherPaths: [], ownFiles };
}

export async function findUserMedia(paths: UserMediaPaths): Promise<UserMedia> {
  const used = [paths.bootIso, ...(paths.alsoUsed ?? [])];
  for (const path of used) {
    const boot = await statOrUndefined(path);
    // A file or a block device (`--device /dev/sr0:/boot.iso`) both work as QEMU's cdrom.
    if (boot && (boot.isFile() || boot.isBlockDevice()) && (boot.isBlockDevice() || boot.size > 0)) return { kind: 'found', path, size: boot.size };
  }
  const misplaced = new Set<string>();
  for (const path of paths.knownOtherPaths) {
    if ((await statOrUndefined(path))?.isFile()) misplaced.add(path);
  }
  for (const path of await isoFilesIn(paths.rootDir)) {
    if (!used.includes(path)) misplaced.add(path);
  }
  for (const path of await isoFilesIn(paths.storageDir)) {
    if (!paths.ownFiles.includes(basename(path))) misplaced.add(path);
  }
  return { kind: 'none', misplaced: [...misplaced].sort() };
}

/** The log hint for misplaced ISOs; undefined when there are none. */
export function misplacedHint(misplaced: readonly string[], bootIso = USER_ISO_PATH): string | undefined {
  if (misplaced.length === 0) return undefined;
  return `found ${misplaced.join(', ')}, which windock does not read: mount your ISO at ${bootIso} (e.g. "-v ./win.iso:${bootIso}:ro") or set BOOT to its path`;
}

async function isoFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of names) {
    if (!/\.iso$/i.test(name) || name.endsWith('.part')) continue;
    const path = join(dir, name);
    if ((await statOrUndefined(path))?.isFile()) found.push(path);
  }
  return found;
}

/** Whether `path` is a regular file holding at least a byte (a finished download, a disk). */
export async function isNonEmptyFile(path: string): Promise<boolean> {
  const info = await statOrUndefined(path);
  return info !== undefined && info.isFile() && info.size > 0;
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}
