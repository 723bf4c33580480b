/**
 * When the Windows media boots, and when it is gone for good. Pure decisions over what windock.json
 * recorded; the Windows stage applies them.
 *
 * The rules (issue 12, point 3): Windows counts as installed once the firmware says it started
 * Windows from the system disk (firmware-boot.ts: OVMF starting "Windows Boot Manager" from an
 * HD() device path, SeaBIOS "Booting from Hard Disk..."), recorded in windock.json as `windowsBoot`
 * together with the install record. Until then every start resumes the install: the ISO boots
 * first, the answer file is attached and the "Press any key" prompt is answered — Setup may
 * re-initialise a disk that never booted Windows, which holds no user's data. From then on the
 * ISO, the setup image and its disk-wiping answer file are never attached again, and nothing ever
 * reinstalls over the disk. (Records of windock versions that decided on the first RDP answer,
 * `install.completedAt` without `windowsBoot`, count as installed too.)
 *
 * Two exceptions for SeaBIOS-era Windows:
 *  - Boot order (`installBootOrder`): under SeaBIOS the disk boots before the CD while installing.
 *    A Windows CD whose disk already holds an MBR asks "Press any key to boot from CD or DVD" and
 *    then chain-loads the disk itself, so with the CD first SeaBIOS never says what booted. With
 *    the disk first, a blank disk fails (`Boot failed: not a bootable disk`) and SeaBIOS goes on
 *    to the CD (Setup starts); once Setup wrote a bootable disk, `Booting from Hard Disk...` is
 *    the firmware's word that the disk, not the CD, booted (once its boot code did not refuse,
 *    firmware-boot.ts; a disk whose boot code refuses gets the CD once, seabios-retry.ts). OVMF
 *    keeps the CD first: its "Windows Boot Manager" line names what booted whatever the order.
 *  - Setup of 2000, XP, 2003 and 9x reads its CD after the first boot from the disk
 *    (catalog `readsMediaAfterDiskBoot`): their CD stays attached, behind the disk, once
 *    installed; so does an ISO with no install.wim (what their CDs are) under SeaBIOS. The setup
 *    image never is. Windows from Vista on has finished with its media when the disk boots
 *    (Setup's WinPE phase is done).
 */
import { basename, dirname, resolve } from 'node:path';
import type { PersistedState } from '../state/state-file.js';
import type { CatalogEntry } from './catalog.js';
import type { WindowsBootRecord } from './firmware-boot.js';

export type InstallRecord = NonNullable<PersistedState['install']>;

export interface MediaPlanInput {
  install: InstallRecord | undefined;
  /** The firmware's word that Windows booted from the disk (windock.json `windowsBoot`). */
  windowsBoot: WindowsBootRecord | undefined;
  /** The storage stage attached the install ISO for this run (a new disk, or an install in progress). */
  mediaAttached: boolean;
  /** MANUAL=Y: the user installs by hand; no answer file. */
  manual: boolean;
  /** Setup reads the CD after the first boot from the disk: the CD stays once installed (see above). */
  keepsMedia?: boolean;
}

export interface MediaPlan {
  /** Attach the Windows ISO as a cdrom (it boots first). */
  attachInstallMedia: boolean;
  /** Attach the FAT setup image (answer file, OEM folder, drivers). */
  attachSetupImage: boolean;
  /** Arm the boot-key watcher for this run. */
  pressBootKeys: boolean;
  /** Windows is installed: what windock.json says, for the log. */
  installed: boolean;
  reason: string;
}

const NOTHING = { attachInstallMedia: false, attachSetupImage: false, pressBootKeys: false } as const;

/** Whether windock.json records the install as done. */
export function isInstalled(install: InstallRecord | undefined, windowsBoot: WindowsBootRecord | undefined): boolean {
  return windowsBoot !== undefined || install?.completedAt !== undefined;
}

export function planWindowsMedia(input: MediaPlanInput): MediaPlan {
  const { install, windowsBoot } = input;
  const keep = input.keepsMedia === true && input.mediaAttached;
  const stays = keep
    ? 'the answer file stays detached; the install CD stays attached behind the disk, as this Setup reads it after its first boot from the disk'
    : 'the install media and the answer file stay detached';
  const installed = { ...NOTHING, attachInstallMedia: keep, installed: true } as const;
  if (windowsBoot) return { ...installed, reason: `Windows is installed: the firmware (${windowsBoot.firmware}) started it from the disk at ${windowsBoot.at}; ${stays}` };
  if (install?.completedAt) return { ...installed, reason: `Windows is installed (recorded at ${install.completedAt}); ${stays}` };
  if (input.mediaAttached) {
    return {
      attachInstallMedia: true,
      attachSetupImage: !input.manual,
      pressBootKeys: true,
      installed: false,
      reason: install?.bootedFromDisk === false && install.mediaAttached
        ? `the firmware has not started Windows from this disk yet: the install media boots${input.manual ? ' for a manual install (MANUAL=Y)' : ' and Setup runs from the answer file'} (Setup may re-initialise a disk that never booted Windows)`
        : `the install media boots${input.manual ? ' for a manual install (MANUAL=Y)' : ' and Setup runs from the answer file'}`,
    };
  }
  return { ...NOTHING, installed: false, reason: 'an existing disk with no install in progress: windock never reinstalls over it' };
}

/**
 * Whether the Setup on this media reads its CD after the first boot from the disk (catalog
 * `readsMediaAfterDiskBoot`: 2000, XP, 2003, 9x). Media windock cannot name (no install.wim, what
 * those CDs are) count as such under SeaBIOS, where they are likely; a CD kept behind the disk
 * costs nothing there.
 */
export function readsMediaAfterDiskBoot(entry: Pick<CatalogEntry, 'readsMediaAfterDiskBoot'> | undefined, firmware: 'legacy' | 'uefi' | 'secure'): boolean {
  return entry ? entry.readsMediaAfterDiskBoot === true : firmware === 'legacy';
}

export interface BootOrder {
  /** The system disk boots before the install CD. */
  diskFirst: boolean;
  reason: string;
}

/** Where the disk goes in the boot order of a run with the install CD attached (see the header). */
export function installBootOrder(firmware: 'legacy' | 'uefi' | 'secure', plan: Pick<MediaPlan, 'installed'>): BootOrder {
  if (plan.installed) return { diskFirst: true, reason: 'Windows is installed: the disk boots, the CD only holds files Setup still reads' };
  if (firmware === 'legacy') {
    return {
      diskFirst: true,
      reason: 'SeaBIOS tries the disk first: a blank disk fails and the CD boots Setup; once Setup made the disk bootable, "Booting from Hard Disk..." says the disk, not the CD, booted',
    };
  }
  return { diskFirst: false, reason: 'OVMF boots the install media first; its "Windows Boot Manager" line says when Windows starts from the disk' };
}

/** The drives with the boot order applied: the system disk and the install CD swap places as `order` says. */
export function applyBootOrder<D extends { id: string; media: string; bootIndex: number | undefined }>(drives: readonly D[], order: BootOrder): D[] {
  const [disk, cd] = order.diskFirst ? [1, 2] : [2, 1];
  return drives.map((d) => (d.id === 'system' ? { ...d, bootIndex: disk } : d.media === 'cdrom' && d.bootIndex !== undefined ? { ...d, bootIndex: cd } : d));
}

/**
 * The ISO REMOVE=Y may delete once Windows is installed: only one windock itself downloaded into
 * STORAGE — the media record's source is a URL, or its file is the one windock.json's download
 * record names (`downloadedFile`: a disk made again from a download kept from before). Never a
 * user's ISO (/boot.iso, /custom.iso, BOOT, another file in STORAGE).
 */
export function downloadedIsoToRemove(state: PersistedState, storageDir: string, boot: string | undefined, downloadedFile: string | undefined): string | undefined {
  const media = state.media;
  if (boot || !media || media.kind !== 'iso' || !media.path) return undefined;
  if (dirname(resolve(media.path)) !== resolve(storageDir)) return undefined;
  return /^https?:\/\//i.test(media.source) || basename(media.path) === downloadedFile ? media.path : undefined;
}

/**
 * The state change when the firmware started Windows from the disk: install done, media detached
 * from the next start on (`keepMedia`: the CD stays, see the header). Idempotent: a recorded
 * completion keeps its first date.
 */
export function recordInstallDone(state: PersistedState, now: Date, keepMedia = false): PersistedState {
  if (state.install?.completedAt) return state;
  return { ...state, install: { mediaAttached: keepMedia && state.install?.mediaAttached === true, bootedFromDisk: true, completedAt: now.toISOString() } };
}

/** The state change before launching with the media attached. */
export function recordMediaAttached(state: PersistedState): PersistedState {
  return { ...state, install: { mediaAttached: true, bootedFromDisk: state.install?.bootedFromDisk ?? false, ...(state.install?.completedAt ? { completedAt: state.install.completedAt } : {}) } };
}
