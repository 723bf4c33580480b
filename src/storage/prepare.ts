/**
 * The storage stage of a run: makes STORAGE usable, finds or makes the system disk and its boot
 * media, chooses the firmware, and returns the drives for the VM spec. Decisions come from pure
 * functions (firmware.ts, later storage-plan.ts); this module observes and acts.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunContext } from '../context.js';
import { AppError } from '../errors.js';
import type { HostFacts } from '../host/facts.js';
import type { DriveSpec, FirmwareSpec, ImageFormat } from '../qemu/vm-spec.js';
import { chooseBootMode, DEFAULT_FIRMWARE_DIR, prepareFirmware } from './firmware.js';
import { ensureStorageDir } from './storage-dir.js';

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
}

/** Where boot media comes from, once VERSION or BOOT has been resolved. */
export type MediaSource =
  | { kind: 'url'; url: string; /** expected SHA-256 (catalog value), lower-case hex */ sha256?: string; /** file name under STORAGE */ fileName?: string }
  | { kind: 'path'; path: string };

/**
 * Turns VERSION into media. The seam for the Windows catalog: the Windows layer passes its own
 * resolver (version key → ISO URL + digest); the default only accepts a URL.
 */
export type ResolveVersionMedia = (version: string, ctx: RunContext) => Promise<MediaSource>;

export interface StorageDeps {
  /** Directory holding the OVMF images (Debian: /usr/share/OVMF). */
  firmwareDir: string;
  resolveVersionMedia: ResolveVersionMedia;
}

export const defaultResolveVersionMedia: ResolveVersionMedia = async (version) => {
  if (/^https?:\/\//i.test(version)) return { kind: 'url', url: version };
  throw new AppError('media', `VERSION=${JSON.stringify(version)} needs the Windows download catalog, which this build does not have`, {
    hint: 'Set BOOT to the path or URL of an ISO or disk image, or VERSION to the URL of an ISO.',
    details: { version },
  });
};

export function defaultStorageDeps(overrides: Partial<StorageDeps> = {}): StorageDeps {
  return { firmwareDir: DEFAULT_FIRMWARE_DIR, resolveVersionMedia: defaultResolveVersionMedia, ...overrides };
}

/** The system disk's file names: the format is part of the name so that it is never guessed. */
export const SYSTEM_DISK_FILES: readonly { file: string; format: ImageFormat }[] = [
  { file: 'data.qcow2', format: 'qcow2' },
  { file: 'data.img', format: 'raw' },
];

export async function prepareStorage(
  ctx: RunContext,
  _host: HostFacts,
  deps: StorageDeps = defaultStorageDeps(),
): Promise<PreparedStorage> {
  const log = ctx.log.child({ component: 'storage' });
  const storageDir = ctx.config.storage;
  await ensureStorageDir(storageDir);
  const state = await ctx.state.read();

  const existing = await findSystemDisk(storageDir, ctx.config.diskFmt);
  if (!existing) {
    // Media to install from: BOOT wins over VERSION. Local images, ISOs and downloads come next.
    if (!ctx.config.boot) await deps.resolveVersionMedia(ctx.config.version, ctx);
    throw new AppError('media', `no system disk in ${storageDir} and no way yet to make one from BOOT or VERSION`, {
      hint: `Put an existing disk at ${join(storageDir, 'data.qcow2')} (or data.img when raw).`,
      details: { storage: storageDir },
    });
  }
  if (existing.other) {
    log.warn({ used: existing.path, ignored: existing.other }, 'two system disks found; using the one matching DISK_FMT');
  }
  log.info({ disk: existing.path, format: existing.format, reason: 'a system disk exists in STORAGE' }, 'reusing the system disk');

  const decision = chooseBootMode({ explicit: ctx.config.bootMode, recorded: state.bootMode, disk: 'existing' });
  if (decision.warning) log.warn({ mode: decision.mode, recorded: state.bootMode }, decision.warning);
  log.info({ mode: decision.mode, reason: decision.reason }, 'firmware chosen');
  const firmware = await prepareFirmware(decision.mode, deps.firmwareDir, storageDir);
  if (firmware.varsCreated && firmware.spec.mode !== 'legacy') {
    log.info({ vars: firmware.spec.vars }, 'UEFI variable store created from the template');
  }
  if (state.bootMode === undefined) {
    await ctx.state.update((s) => {
      s.bootMode = decision.mode;
    });
  }

  const drives: DriveSpec[] = [
    {
      id: 'system',
      path: existing.path,
      format: existing.format,
      media: 'disk',
      bus: ctx.config.diskType,
      readOnly: false,
      bootIndex: 1,
    },
  ];
  return {
    drives,
    firmware: firmware.spec,
    systemDisk: existing.path,
    markBootedFromDisk: () => markBootedFromDisk(ctx),
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

interface FoundDisk {
  path: string;
  format: ImageFormat;
  /** A second system disk that was not chosen. */
  other: string | undefined;
}

async function findSystemDisk(storageDir: string, preferred: 'qcow2' | 'raw'): Promise<FoundDisk | undefined> {
  const found: { path: string; format: ImageFormat }[] = [];
  for (const candidate of SYSTEM_DISK_FILES) {
    const path = join(storageDir, candidate.file);
    if (await isFile(path)) found.push({ path, format: candidate.format });
  }
  const chosen = found.find((f) => f.format === preferred) ?? found[0];
  if (!chosen) return undefined;
  return { ...chosen, other: found.find((f) => f !== chosen)?.path };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
