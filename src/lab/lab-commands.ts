/**
 * `windock snapshot|reset|export`: short-lived commands run inside the container next to the
 * supervisor (`docker exec CONTAINER windock snapshot save clean`). Snapshots and reset are
 * requests to the running supervisor over the control socket; export works on the disk files
 * while no guest runs (a one-off `docker run --rm ... windock export PATH` on the STORAGE volume).
 */
import { link, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LabWords } from '../config/command-line.js';
import type { Config } from '../config/options.js';
import { AppError, EXIT_CODES } from '../core/errors.js';
import { spawnQemuImg, QemuImgError, type QemuImgRun } from '../storage/qemu-img.js';
import { checkSnapshotName, CONTROL_SOCKET, type ControlRequest } from './control-protocol.js';
import { NoSupervisorError, sendControlRequest } from './control-client.js';
import type { SnapshotInfo, SnapshotStep } from './snapshot-plan.js';

export interface LabIo {
  print: (text: string) => void;
  printError: (text: string) => void;
}

/** A snapshot job's own deadline (snapshots.ts) plus the supervisor's margin. */
const JOB_REPLY_TIMEOUT_MS = 12 * 60_000;
const STATUS_TIMEOUT_MS = 5_000;

/** The control request a command line asks for; a missing or bad name is refused here (exit 2). */
export function requestOf(command: 'snapshot' | 'reset', words: LabWords): ControlRequest {
  if (command === 'reset') return { op: 'reset', discardChanges: words.discardChanges };
  switch (words.action) {
    case 'list':
      return { op: 'snapshot-list' };
    case 'save':
      return { op: 'snapshot-save', name: named(words) };
    case 'delete':
      return { op: 'snapshot-delete', name: named(words) };
    case 'revert':
      return { op: 'snapshot-revert', name: named(words), discardChanges: words.discardChanges };
    default:
      throw new AppError('config', `windock snapshot needs save, list, revert or delete, got ${JSON.stringify(words.action)}`);
  }
}

function named(words: LabWords): string {
  if (words.name === undefined) {
    throw new AppError('config', `windock snapshot ${words.action ?? ''} needs a snapshot NAME`, { hint: `For example: windock snapshot ${words.action ?? 'save'} clean` });
  }
  return checkSnapshotName(words.name);
}

export async function runLabCommand(command: 'snapshot' | 'reset' | 'export', words: LabWords, config: Config, io: LabIo): Promise<number> {
  try {
    if (command === 'export') {
      const result = await exportDisk(config, words.path ?? '', spawnQemuImg());
      io.print(`exported ${result.source} to ${result.path} (${result.bytes} bytes, compressed qcow2, no backing file)`);
      return EXIT_CODES.ok;
    }
    const request = requestOf(command, words);
    const reply = await sendControlRequest(join(config.runDir, CONTROL_SOCKET), request, JOB_REPLY_TIMEOUT_MS);
    if (!reply.ok) throw new AppError(reply.error.code, reply.error.message, reply.error.hint ? { hint: reply.error.hint } : {});
    io.print(describe(request, reply.result));
    return EXIT_CODES.ok;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    io.printError(`windock: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}`);
    return error.exitCode;
  }
}

function describe(request: ControlRequest, result: unknown): string {
  if (request.op === 'snapshot-list') {
    const list = result as SnapshotInfo[];
    if (list.length === 0) return 'no snapshots';
    return list.map((s) => `${s.name.padEnd(32)} ${s.date}  ${(s.vmStateBytes / 2 ** 20).toFixed(1)} MiB VM state`).join('\n');
  }
  const steps = (result as { steps?: SnapshotStep[] }).steps ?? [];
  return steps.map((s) => (s.kind === 'save' ? `saved snapshot ${s.name}` : s.kind === 'load' ? `reverted to snapshot ${s.name}` : `deleted snapshot ${s.name}`)).join('\n');
}

/** The system disk's names, as storage/prepare.ts makes them. */
const DISKS = [
  { file: 'data.qcow2', format: 'qcow2' },
  { file: 'data.img', format: 'raw' },
] as const;

/** `qemu-img convert` argv of an export: compressed qcow2, backing chain flattened, no `-U`. */
export function exportArgs(source: { path: string; format: string }, target: string): string[] {
  // No -U (force share): QEMU's image locking then refuses to read a disk that a running QEMU
  // writes, the last guard against copying a live, inconsistent image.
  return ['convert', '-c', '-f', source.format, '-O', 'qcow2', source.path, target];
}

export async function exportDisk(config: Config, path: string, run: QemuImgRun): Promise<{ path: string; source: string; bytes: number }> {
  if (!path) throw new AppError('config', 'windock export needs the PATH of the new image', { hint: 'For example: windock export /storage/golden.qcow2' });
  const target = resolve(path);
  try {
    const status = await sendControlRequest(join(config.runDir, CONTROL_SOCKET), { op: 'status' }, STATUS_TIMEOUT_MS);
    const phase = status.ok ? (status.result as { phase?: string }).phase : undefined;
    throw new AppError('config', `the VM is still supervised (phase ${phase ?? 'unknown'}); export needs the guest shut down`, {
      hint: 'Shut the guest down (docker stop CONTAINER), then export from a one-off container on the same volume: docker run --rm -v VOLUME:/storage IMAGE windock export /storage/golden.qcow2',
    });
  } catch (error) {
    if (!(error instanceof NoSupervisorError)) throw error;
  }
  const source = await findDisk(config.storage);
  if (await exists(target)) {
    throw new AppError('config', `the export target ${target} exists already; windock never replaces a file`, { hint: 'Choose a new file name, or move the old one away first.' });
  }
  const temp = `${target}.part`;
  await unlink(temp).catch(() => undefined);
  try {
    await run(exportArgs(source, temp), {});
    // link(2) never replaces: a file that appeared meanwhile is kept.
    await link(temp, target);
  } catch (error) {
    if (error instanceof QemuImgError && /lock/i.test(error.reason)) {
      throw new AppError('config', `the disk ${source.path} is in use by another process (a running QEMU?); export needs the guest shut down`, { cause: error });
    }
    throw error instanceof AppError ? error : new AppError('media', `cannot export ${source.path} to ${target}: ${(error as Error).message}`, { cause: error });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  return { path: target, source: source.path, bytes: (await stat(target)).size };
}

async function findDisk(storage: string): Promise<{ path: string; format: string }> {
  for (const disk of DISKS) {
    const path = join(storage, disk.file);
    if (await exists(path)) return { path, format: disk.format };
  }
  throw new AppError('config', `no system disk in STORAGE ${storage} (expected ${DISKS.map((d) => d.file).join(' or ')})`, {
    hint: 'Mount the volume that holds the installed disk at STORAGE.',
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
