/**
 * STORAGE itself: created when missing, and proven writable by writing, syncing and removing a
 * probe file — `access(W_OK)` is not enough: it says yes to root on a read-only mount's directory
 * in some setups and cannot see a full disk. The run calls this first, before anything else is
 * touched (app.ts), so that a read-only or foreign-owned volume is one clear exit 2 naming STORAGE
 * and not a failure of whichever stage happens to write first. Exit 2 rather than 3: STORAGE is a
 * setting, and the fix is in how the volume is given to the container (`-v …:rw`, ownership).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';

const HINTS: Record<string, string> = {
  EROFS: 'The volume is mounted read-only; mount it read-write (drop `:ro` from `-v`, or `readOnly: true` from the volumeMount).',
  EACCES: 'Give the user windock runs as write access to the directory (chown/chmod on the host), or mount another volume.',
  ENOSPC: 'Free space on the volume, or mount a larger one.',
};
HINTS['EPERM'] = HINTS['EACCES']!;
HINTS['EDQUOT'] = HINTS['ENOSPC']!;

/** errno → what a user reads: "read-only", "permission denied", "full". */
function reason(code: string | undefined): string {
  switch (code) {
    case 'EROFS':
      return 'read-only (EROFS)';
    case 'EACCES':
    case 'EPERM':
      return `not writable: permission denied (${code})`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `full (${code})`;
    default:
      return `not writable (${code ?? 'unknown error'})`;
  }
}

function storageError(dir: string, step: 'create' | 'write', error: unknown): AppError {
  const code = (error as NodeJS.ErrnoException).code;
  const message = step === 'create' ? `STORAGE ${dir} cannot be created: its parent is ${reason(code)}` : `STORAGE ${dir} is ${reason(code)}`;
  return new AppError('config', message, {
    hint: (code && HINTS[code]) ?? 'Mount a writable volume at STORAGE (e.g. `-v ./windows:/storage`) or set STORAGE to a writable directory.',
    cause: error,
    details: { variable: 'STORAGE', storage: dir, errno: code },
  });
}

export async function ensureStorageDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR' || (error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AppError('config', `STORAGE ${dir} must be a directory, got a file in its path`, { details: { variable: 'STORAGE', storage: dir } });
    }
    throw storageError(dir, 'create', error);
  }
  const info = await stat(dir);
  if (!info.isDirectory()) {
    throw new AppError('config', `STORAGE ${dir} must be a directory, got a file`, { details: { variable: 'STORAGE', storage: dir } });
  }
  const probe = join(dir, `.windock-write-test-${randomUUID()}`);
  try {
    const handle = await open(probe, 'wx', 0o600);
    try {
      // A byte and an fsync: a full disk or a volume that fails on flush shows here, not mid-download.
      await handle.write('w');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlink(probe).catch(() => undefined);
    throw storageError(dir, 'write', error);
  }
  await unlink(probe);
}
