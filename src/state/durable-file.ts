/**
 * Files that must survive a power cut whole or not at all: written under a temporary name in the
 * same directory, synced, then given their real name, and the directory entry synced (a rename or
 * a link is only durable once its directory is flushed).
 */
import { randomUUID } from 'node:crypto';
import { copyFile, link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Replaces `path` atomically with `data`: readers see the old file or the new one, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  const file = await open(temp, 'wx', mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } catch (error) {
    await file.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await file.close();
  await rename(temp, path);
  await syncPath(dirname(path));
}

/**
 * Creates `path` as a copy of `source` unless `path` exists, in which case nothing is touched and
 * false is returned. A crash mid-copy leaves only a temporary file behind, never a half-copied
 * `path` that a later start would take for the real thing. The link(2) is the no-clobber step:
 * it fails with EEXIST where rename(2) would replace.
 */
export async function copyFileOnce(source: string, path: string, mode = 0o600): Promise<boolean> {
  const temp = `${path}.${randomUUID()}.tmp`;
  try {
    await copyFile(source, temp);
    const file = await open(temp, 'r+');
    try {
      await file.chmod(mode);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await link(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    await syncPath(dirname(path));
    return true;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * fsync(2) of a file or a directory. A file someone else wrote (qemu-img): its data and size reach
 * the disk. A directory: the names created or renamed in it become durable.
 */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
