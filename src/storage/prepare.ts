/**
 * The storage stage of a run: observe (STORAGE, the system disk, windock.json, the media), decide
 * (`planStorage`, pure), act (qemu-img, downloads, box extraction), record (windock.json). Returns
 * the drives and firmware for the VM spec.
 */
import { link, statfs, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RunContext } from '../supervisor/context.js';
import { AppError } from '../core/errors.js';
import type { HostFacts } from '../host/facts.js';
import type { Logger } from '../core/log.js';
import type { DriveSpec, FirmwareSpec } from '../qemu/vm-spec.js';
import { checkDiskIfUncleanlyClosed, diskOpenChange, recordDiskClosed } from './disk-check.js';
import { syncPath } from '../state/durable-file.js';
import { DEFAULT_FIRMWARE_DIR, prepareFirmware } from './firmware.js';
import { extractBox, identityOf, isUrl, looksLikeBox, observeMedia, publicUrl, readPartitionScheme, safeDownloadName, urlDownloadName, type MediaSource } from './media.js';
import { observeExtraDisks } from './extra-disks-observe.js';
import { observeSystemDevice } from './system-device.js';
import { QemuImg } from './qemu-img.js';
import type { PersistedState } from '../state/state-file.js';
import { ensureStorageDir } from './storage-dir.js';
import { planStorage, type ObservedDisk, type ObservedMedia, type StorageAction, type StoragePlan } from './storage-plan.js';

export type { MediaSource };
export { safeDownloadName };

export interface PreparedStorage {
  drives: DriveSpec[];
  firmware: FirmwareSpec;
  /** the system disk path */
  systemDisk: string;
  /**
   * Called by the supervisor when the guest has run from its disk (first boot seen): records it
   * in windock.json so that later boots put the disk first and never reinstall.
   */
  markBootedFromDisk(): Promise<void>;
  /** Called by the supervisor once QEMU has closed the disk in order (disk-check.ts). */
  recordDiskClosed(): Promise<void>;
}

/**
 * Turns VERSION into media: the seam for the Windows catalog (the default only accepts a URL). A
 * resolver with several sources downloads them itself through `fetchMedia` and returns the path
 * of the one that worked: which source comes next is its knowledge, not storage's.
 */
export type ResolveVersionMedia = (version: string, ctx: RunContext, fetchMedia: FetchMedia) => Promise<MediaSource>;

/** Downloads a file into STORAGE under `fileName` (made safe), verified when `sha256` is given; the final path. */
export type FetchMedia = (request: { url: string; fileName: string; sha256: string | undefined }) => Promise<string>;

export interface DownloadRequest {
  url: string;
  dir: string;
  fileName: string;
  sha256: string | undefined;
}

/** Downloads into `dir/fileName` (verified, resumable); the final path. */
export type DownloadMedia = (ctx: RunContext, request: DownloadRequest) => Promise<string>;

export interface StorageDeps {
  /** Directory holding the OVMF images (Debian: /usr/share/OVMF). */
  firmwareDir: string;
  resolveVersionMedia: ResolveVersionMedia;
  download: DownloadMedia;
  qemuImg: QemuImg;
}

export const defaultResolveVersionMedia: ResolveVersionMedia = async (version) => {
  if (isUrl(version)) return { kind: 'url', url: version };
  throw new AppError('media', `VERSION=${JSON.stringify(version)} needs the Windows download catalog, which this build does not have`, {
    hint: 'Set BOOT to the path or URL of an ISO or disk image, or VERSION to the URL of an ISO.',
    details: { version },
  });
};

/** The real downloader (download.ts), loaded on first use: a start that finds its disk never downloads. */
export const downloadMedia: DownloadMedia = async (ctx, request) =>
  (await (await import('./download.js')).download({ log: ctx.log, signal: ctx.signal, onProgress: ctx.onDownloadProgress ?? (() => undefined) }, { url: request.url, dir: request.dir, fileName: request.fileName, sha256: request.sha256, connections: ctx.config.connections })).path;

export function defaultStorageDeps(overrides: Partial<StorageDeps> = {}): StorageDeps {
  return {
    firmwareDir: DEFAULT_FIRMWARE_DIR,
    resolveVersionMedia: defaultResolveVersionMedia,
    download: downloadMedia,
    qemuImg: new QemuImg(),
    ...overrides,
  };
}

/** The system disk's file names: the format is part of the name so that it is never guessed. */
export const SYSTEM_DISK_FILES = [
  { file: 'data.qcow2', format: 'qcow2' },
  { file: 'data.img', format: 'raw' },
] as const;

/** statfs(2) f_type of btrfs (linux/magic.h BTRFS_SUPER_MAGIC). */
export const BTRFS_SUPER_MAGIC = 0x9123683e;

export async function prepareStorage(
  ctx: RunContext,
  _host: HostFacts,
  deps: StorageDeps = defaultStorageDeps(),
): Promise<PreparedStorage> {
  const log = ctx.log.child({ component: 'storage' });
  const storageDir = ctx.config.storage;
  const scratchDir = join(ctx.config.runDir, 'storage');
  await ensureStorageDir(storageDir);
  const fs = await statfs(storageDir);
  const btrfs = fs.type === BTRFS_SUPER_MAGIC;
  if (btrfs) {
    log.warn(
      { storage: storageDir },
      'STORAGE is on btrfs: copy-on-write fragments disk images; new images are created with nocow (chattr +C)',
    );
  }
  const state = await ctx.state.read();

  const disk =
    (await observeSystemDevice(ctx.config, deps.qemuImg, ctx.signal)) ??
    (await observeSystemDisk(deps.qemuImg, storageDir, ctx.config.diskFmt, state, scratchDir, log, ctx.signal));
  let media: ObservedMedia | undefined;
  if (!disk || (disk.device?.blank && !state.install?.mediaAttached)) {
    media = await acquireMedia(ctx, deps, storageDir, scratchDir, log);
  } else {
    media = await observeAttachedIso(deps.qemuImg, state, storageDir, scratchDir, ctx.config.bootTrust, log);
    if (ctx.config.boot && state.media && state.media.source !== sourceOf(ctx.config.boot)) {
      log.warn(
        { boot: sourceOf(ctx.config.boot), recorded: state.media.source },
        'BOOT differs from the media the disk was made from; the existing disk is used, BOOT only makes a new one',
      );
    }
  }
  const baseDeclared = disk?.backingFile ? (state.base?.path ?? disk.backingFile) : undefined;
  const plan = planStorage(ctx.config, {
    storageDir,
    disk,
    state,
    media,
    base: baseDeclared ? await identityOf(baseDeclared) : undefined,
    freeBytes: fs.bavail * fs.bsize,
    btrfs,
    extraDisks: await observeExtraDisks(ctx.config, deps.qemuImg),
  });
  for (const d of plan.decisions) log[d.level]({ ...d.details, reason: d.reason }, d.decision);
  log.info({ mode: plan.bootMode.mode, reason: plan.bootMode.reason }, 'firmware chosen');
  if (plan.bootMode.warning) log.warn({ mode: plan.bootMode.mode, recorded: state.bootMode }, plan.bootMode.warning);

  // After the plan (which refuses a missing or changed base first: qemu-img check could not even
  // open such an overlay) and before any action touches the disk (a grow included): a damaged
  // disk is reported as it was found.
  if (disk) {
    await checkDiskIfUncleanlyClosed({ path: disk.path, format: disk.format, state: ctx.state, qemuImg: deps.qemuImg, log, signal: ctx.signal });
  }
  // Intent first: a crash after the disk was made must still find the install state recorded —
  // and the disk marked open (before QEMU opens it, and before an action grows it: a crash on
  // the way means a check at the next start), in the same synced write.
  await recordPlan(ctx, plan, await diskOpenChange(ctx.state, plan.systemDisk.path));
  const base = await applyActions(deps.qemuImg, plan.actions, ctx.signal, log);
  // The base's identity, compared on every later start (a changed base corrupts the overlay). An
  // overlay found without a record (made by hand, or a crash right after creation) is trusted on
  // first use.
  const recordBase = base ?? (disk?.backingFile && !state.base ? disk.backingFile : undefined);
  if (recordBase) await recordBaseIdentity(ctx, recordBase);

  const firmware = await prepareFirmware(plan.bootMode.mode, deps.firmwareDir, storageDir);
  if (firmware.varsCreated && firmware.spec.mode !== 'legacy') {
    log.info({ vars: firmware.spec.vars }, 'UEFI variable store created from the template');
  }
  return {
    drives: plan.drives,
    firmware: firmware.spec,
    systemDisk: plan.systemDisk.path,
    markBootedFromDisk: () => markBootedFromDisk(ctx),
    recordDiskClosed: async () => void (await recordDiskClosed(ctx.state, plan.systemDisk.path)),
  };
}

export async function markBootedFromDisk(ctx: RunContext): Promise<void> {
  const current = await ctx.state.read();
  if (current.install?.bootedFromDisk) return;
  await ctx.state.update((s) => {
    s.install = {
      mediaAttached: s.install?.mediaAttached ?? false,
      bootedFromDisk: true,
      completedAt: new Date().toISOString(),
    };
  });
  ctx.log.child({ component: 'storage' }).info('first boot from the system disk recorded; install media no longer boots first');
}

function sourceOf(boot: string): string {
  return isUrl(boot) ? publicUrl(boot) : boot;
}

async function observeSystemDisk(
  qemuImg: QemuImg,
  storageDir: string,
  preferred: 'qcow2' | 'raw',
  state: PersistedState,
  scratchDir: string,
  log: Logger,
  signal: AbortSignal,
): Promise<ObservedDisk | undefined> {
  const found: { path: string; format: 'qcow2' | 'raw' }[] = [];
  for (const candidate of SYSTEM_DISK_FILES) {
    const path = join(storageDir, candidate.file);
    if ((await identityOf(path)) !== 'missing') found.push({ path, format: candidate.format });
  }
  const chosen = found.find((f) => f.format === preferred) ?? found[0];
  if (!chosen) return undefined;
  const other = found.find((f) => f !== chosen);
  if (other) log.warn({ used: chosen.path, ignored: other.path }, 'two system disks found; using the one matching DISK_FMT');
  // The format is given (-f), never probed: a raw disk whose guest wrote a qcow2 header into it
  // must not be mistaken for a qcow2 (QEMU's warning on probing raw images).
  // Side by side (both read-only, -U); the partition table only guesses a disk's firmware.
  const [info, partitionScheme] = await Promise.all([
    qemuImg.info(chosen.path, chosen.format, { signal }),
    state.bootMode === undefined ? readPartitionScheme(qemuImg, chosen.path, chosen.format, scratchDir) : undefined,
  ]);
  return {
    path: chosen.path,
    format: chosen.format,
    virtualSize: info.virtualSize,
    backingFile: info.fullBackingFile,
    partitionScheme,
  };
}

/** An install from an ISO still under way keeps its media attached across restarts. */
async function observeAttachedIso(
  qemuImg: QemuImg,
  state: PersistedState,
  storageDir: string,
  scratchDir: string,
  bootTrust: boolean,
  log: Logger,
): Promise<ObservedMedia | undefined> {
  if (!state.install?.mediaAttached || state.media?.kind !== 'iso' || !state.media.path) return undefined;
  if ((await identityOf(state.media.path)) === 'missing') {
    const level = state.install.bootedFromDisk ? 'info' : 'warn';
    log[level]({ media: state.media.path }, 'the install ISO is gone; booting the disk without it');
    return undefined;
  }
  return observeMedia(qemuImg, state.media.path, state.media.source, storageDir, scratchDir, bootTrust);
}

async function acquireMedia(
  ctx: RunContext,
  deps: StorageDeps,
  storageDir: string,
  scratchDir: string,
  log: Logger,
): Promise<ObservedMedia> {
  const boot = ctx.config.boot;
  const fetchMedia = (reason: string): FetchMedia => async (request) => {
    const fileName = safeDownloadName(request.fileName);
    log.info({ url: publicUrl(request.url), file: fileName, reason }, 'media comes from a download');
    return deps.download(ctx, { url: request.url, dir: storageDir, fileName, sha256: request.sha256 });
  };
  const source: MediaSource = boot
    ? isUrl(boot)
      ? { kind: 'url', url: boot, sha256: ctx.config.bootSha256 }
      : { kind: 'path', path: boot }
    : await deps.resolveVersionMedia(ctx.config.version, ctx, fetchMedia('VERSION names downloadable media'));
  let path: string;
  let shown: string;
  if (source.kind === 'url') {
    shown = publicUrl(source.url);
    path = await fetchMedia(boot ? 'BOOT is a URL' : 'VERSION names downloadable media')({ url: source.url, fileName: source.fileName ?? urlDownloadName(source.url), sha256: source.sha256 });
  } else {
    shown = source.path;
    path = source.path;
    if ((await identityOf(path)) === 'missing') {
      throw new AppError('media', `BOOT ${path} does not exist`, {
        hint: 'Mount the image into the container (e.g. `-v ./image.qcow2:/boot.qcow2:ro`) and set BOOT to its path inside.',
        details: { boot: path },
      });
    }
  }
  if (await looksLikeBox(path)) {
    const extracted = await extractBox(path, storageDir, ctx.signal);
    log.info({ box: shown, image: extracted, reason: 'a Vagrant box is a tar; its box.img becomes the base' }, 'box image ready');
    const media = await observeMedia(deps.qemuImg, extracted, shown, storageDir, scratchDir, ctx.config.bootTrust);
    return media;
  }
  return observeMedia(deps.qemuImg, path, shown, storageDir, scratchDir, ctx.config.bootTrust);
}

/**
 * Applies the plan's actions in order. Every new file is made under a temporary name and renamed
 * into place, so a crash mid-way never leaves a half-made disk under its real name (a leftover
 * `*.part` of windock's own is overwritten by the next attempt). Returns the overlay's base.
 */
async function applyActions(
  qemuImg: QemuImg,
  actions: StorageAction[],
  signal: AbortSignal,
  log: Logger,
): Promise<string | undefined> {
  let overlayBase: string | undefined;
  for (const action of actions) {
    const started = Date.now();
    switch (action.kind) {
      case 'convert-base':
        await intoPlace(action.target, (temp) =>
          qemuImg.convert({ path: action.source, format: action.sourceFormat }, { path: temp, format: 'qcow2' }, { signal }),
        );
        break;
      case 'copy':
        await intoPlace(action.target, (temp) =>
          qemuImg.convert(
            { path: action.source, format: action.sourceFormat },
            { path: temp, format: action.format, nocow: action.nocow },
            { signal },
          ),
        );
        break;
      case 'create-overlay': {
        const backing = { path: action.base, format: action.baseFormat };
        await intoPlace(action.target, async (temp) => {
          await qemuImg.create({ path: temp, format: 'qcow2', backing, size: action.size, nocow: action.nocow }, { signal });
          // Check what qemu-img wrote: the overlay must name this very base, by absolute path.
          const info = await qemuImg.info(temp, 'qcow2');
          if (info.fullBackingFile !== action.base || info.backingFormat !== action.baseFormat) {
            throw new AppError('internal', `the overlay ${temp} names ${info.fullBackingFile} as its base, expected ${action.base}`);
          }
        });
        overlayBase = action.base;
        break;
      }
      case 'create-empty':
        await intoPlace(action.target, (temp) =>
          qemuImg.create({ path: temp, format: action.format, size: action.size, nocow: action.nocow, preallocate: action.preallocate }, { signal }),
        );
        break;
      case 'resize':
        await qemuImg.resize(action.target, action.format, action.to, { signal });
        log.warn(
          { disk: action.target, from: action.from, to: action.to },
          'disk grown: extend the partition inside the guest to use the new space (Windows: Disk Management → Extend Volume)',
        );
        break;
    }
    log.info({ action: action.kind, target: action.target, ms: Date.now() - started }, 'storage action done');
  }
  return overlayBase;
}

async function intoPlace(target: string, make: (temp: string) => Promise<void>): Promise<void> {
  if ((await identityOf(target)) !== 'missing') {
    // The plan only creates files that do not exist; finding one here means another process made
    // it meanwhile. Never replace it.
    throw new AppError('internal', `${target} appeared while windock was about to create it; it is left as it is`);
  }
  const temp = `${target}.part`;
  await unlink(temp).catch(() => undefined);
  try {
    await make(temp);
    // Durable before it takes its name: after a power cut the name holds a whole disk or nothing.
    await syncPath(temp);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  // link(2) fails with EEXIST instead of replacing: a file that appeared meanwhile is kept.
  try {
    await link(temp, target);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await syncPath(dirname(target));
}

async function recordPlan(ctx: RunContext, plan: StoragePlan, diskOpen: ((s: PersistedState) => void) | undefined): Promise<void> {
  const record = plan.record;
  if (!record.media && !record.install && !record.bootMode && !record.diskBus && !diskOpen) return;
  await ctx.state.update((s) => {
    if (record.media) s.media = record.media;
    if (record.install) s.install = record.install;
    if (record.bootMode) s.bootMode = record.bootMode;
    if (record.diskBus) s.diskBus = record.diskBus;
    diskOpen?.(s);
  });
}

async function recordBaseIdentity(ctx: RunContext, path: string): Promise<void> {
  const identity = await identityOf(path);
  if (identity === 'missing') return;
  await ctx.state.update((s) => {
    s.base = { path, size: identity.size, mtimeMs: identity.mtimeMs };
  });
}
