/**
 * STORAGE itself: created when missing, and proven writable by creating (and removing) a probe
 * file — `access(W_OK)` is not enough: it says yes to root on a read-only mount's directory in
 * some setups and cannot see a full disk.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.js';

export async function ensureStorageDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new AppError('config', `STORAGE ${dir} cannot be created: ${(error as Error).message}`, {
      hint: 'Mount a writable volume at STORAGE (e.g. `-v ./windows:/storage`) or set STORAGE to a writable directory.',
      cause: error,
      details: { storage: dir },
    });
  }
  const info = await stat(dir);
  if (!info.isDirectory()) {
    throw new AppError('config', `STORAGE ${dir} must be a directory, got a file`, { details: { storage: dir } });
  }
  const probe = join(dir, `.windock-write-test-${randomUUID()}`);
  try {
    const handle = await open(probe, 'wx', 0o600);
    await handle.close();
    await unlink(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AppError('config', `STORAGE ${dir} is not writable (${code ?? (error as Error).message})`, {
      hint:
        code === 'EROFS'
          ? 'The volume is mounted read-only; mount it read-write.'
          : 'Give the user windock runs as write access to the directory (chown/chmod), or mount another volume.',
      cause: error,
      details: { storage: dir, errno: code },
    });
  }
}
