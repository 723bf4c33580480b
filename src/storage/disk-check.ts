/**
 * A qcow2 system disk is checked before QEMU opens it whenever no run of windock is known to have
 * closed it cleanly: the first start on a disk windock has not run before, and every start after
 * a SIGKILL, a power cut or a crash — as a filesystem is checked after an unclean unmount. A clean
 * stop records that the image was closed, so an ordinary start costs nothing.
 *
 * `qemu-img check` reads only the metadata (L1/L2 and refcount tables: a few MiB for a large
 * Windows disk) and never writes. A damaged image is reported and left exactly as it is: windock
 * never repairs, replaces or shrinks a disk on its own (DESIGN.md); the hint says how to repair a
 * copy. Leaked clusters only waste space (qemu-img(1)), so they are a warning.
 */
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { QemuImg } from './qemu-img.js';
import { stateSlice, type PersistedState, type StateFile } from '../state/state-file.js';

/** The slice of windock.json this module owns. */
export interface DiskCloseRecord {
  /** The system disk the record is about (a new disk or a moved STORAGE starts unknown). */
  path: string;
  /** QEMU closed the disk: the guest powered off, or QEMU quit or ended on SIGTERM. */
  closedCleanly: boolean;
}

const DISK_CLOSE = stateSlice<DiskCloseRecord>('diskClose');

export interface DiskCheckInput {
  path: string;
  format: string;
  state: StateFile;
  qemuImg: QemuImg;
  log: Logger;
  signal: AbortSignal;
}

export async function checkDiskIfUncleanlyClosed(input: DiskCheckInput): Promise<void> {
  const { path, format, log } = input;
  if (format !== 'qcow2') return;
  const record = await DISK_CLOSE.read(input.state);
  if (record?.path === path && record.closedCleanly) return;
  const started = Date.now();
  const result = await input.qemuImg.check(path, format, { signal: input.signal });
  const why = record?.path === path ? 'the last run did not close it cleanly' : 'windock has not closed this disk before';
  log.info({ disk: path, result: result.status, ms: Date.now() - started, why }, 'disk checked');
  if (result.status === 'leaks') {
    log.warn({ disk: path, leaks: result.errors.length }, 'the disk has leaked clusters (space only, no data at risk); qemu-img check -r leaks on a stopped VM reclaims it');
    return;
  }
  if (result.status === 'clean') return;
  throw new AppError('media', `${path} is damaged: qemu-img check ${result.status === 'corrupt' ? `found ${result.errors.length} errors` : 'could not read it'} (first: ${result.errors[0] ?? 'no detail'})`, {
    hint: 'windock does not repair a disk on its own. Keep this file, copy it, and try "qemu-img check -r all" on the copy; or restore it from a backup.',
    details: { disk: path, errors: result.errors.slice(0, 10) },
  });
}

/**
 * The "open, not closed cleanly" record, written before QEMU opens the disk so that a run that
 * never ends cleanly leaves "unclean": a change for the caller's own windock.json update (the
 * storage stage writes it with its plan, one synced write for both), or undefined when the file
 * already says so — a start pays no extra synced write for it.
 */
export async function diskOpenChange(state: StateFile, path: string): Promise<((s: PersistedState) => void) | undefined> {
  const record = await DISK_CLOSE.read(state);
  if (record?.path === path && !record.closedCleanly) return undefined;
  return (s) => DISK_CLOSE.put(s, { path, closedCleanly: false });
}

/** Written once QEMU has closed the disk in order. */
export function recordDiskClosed(state: StateFile, path: string): Promise<void> {
  return DISK_CLOSE.write(state, { path, closedCleanly: true });
}
