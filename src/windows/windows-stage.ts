/**
 * The Windows stage of a run, between storage and QEMU: when the storage stage attached install
 * media for a Windows VERSION, it adds the setup image (answer file, OEM folder, drivers) and arms
 * the boot-key watcher; it also says which defaults a Windows guest needs before storage and
 * network are planned (firmware, disk bus, NIC). Decisions come from the pure modules
 * (catalog, settings, unattend, install-state, boot-key); this module observes and acts.
 *
 * Behind windows-profile.ts, the one entry into src/windows/: the run reaches this module only
 * through the Windows guest profile (`settle` for the defaults, `prepare` for the install).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/options.js';
import type { Logger } from '../core/log.js';
import type { RunContext } from '../supervisor/context.js';
import type { DiskBus, DriveSpec, FirmwareSpec, GuestMachine, NicModel } from '../qemu/vm-spec.js';
import { stateSlice, type StateFile } from '../state/state-file.js';
import { BootKeyWatcher } from './boot-key.js';
import { installsHandsOff, resolveVersion, type CatalogEntry } from './catalog.js';
import type { WindowsBootRecord } from './firmware-boot.js';
import { applyBootOrder, downloadedIsoToRemove, installBootOrder, isInstalled, planWindowsMedia, readsMediaAfterDiskBoot, recordInstallDone, type MediaPlan } from './install-state.js';
import { answerFileInput } from './answer-input.js';
import { applyMediaChoice, chooseFromMedia, installMediaDecision, type MediaChoice } from './iso-choice.js';
import type { OwnMedia } from './own-media.js';
import { WINDOWS_DOWNLOAD } from './version-media.js';
import { buildSetupImage, findDrivers, windowsDevices, type SetupImage } from './setup-image.js';

/** Where the Docker image puts the virtio-win drivers when built with them. */
export const DEFAULT_DRIVER_DIR = '/usr/share/windock/virtio-win';
/** The user's OEM folder, mounted like dockur's (`-v ./oem:/oem`). */
export const DEFAULT_OEM_DIR = '/oem';
export const SETUP_IMAGE_FILE = 'windock-setup.img';

/** The firmware's line saying it started Windows from the disk (firmware-boot.ts), once seen. */
export const WINDOWS_BOOT_RECORD = stateSlice<WindowsBootRecord>('windowsBoot');

export interface WindowsProfile {
  entry: CatalogEntry;
  /** The firmware a new disk gets when BOOT_MODE is unset (Windows 11, Server 2025: secure; before 8: legacy). */
  bootMode: 'secure' | 'uefi' | 'legacy';
  disk: DiskBus;
  nic: NicModel;
  /** Machine, USB controller, CPU flags and globals the version needs (catalog data). */
  guest: GuestMachine;
  /** Why these devices, for the log ("no virtio drivers bundled …"). */
  devicesReason: string;
}

/**
 * Pure: the Windows defaults for this configuration, or undefined when the guest is not a
 * catalog Windows (BOOT set, or VERSION is a URL). `fromMedia`: the entry your own ISO's
 * metadata chose (iso-choice.ts), which wins over VERSION.
 */
export function windowsProfile(config: Pick<Config, 'boot' | 'version'>, driversAvailable: boolean, fromMedia?: CatalogEntry): WindowsProfile | undefined {
  const resolved = fromMedia ? { kind: 'catalog' as const, entry: fromMedia } : config.boot ? undefined : resolveVersion(config.version);
  if (resolved?.kind !== 'catalog') return undefined;
  const devices = windowsDevices(resolved.entry, driversAvailable);
  const { entry } = resolved;
  const guest: GuestMachine = { machine: entry.machine, usb: entry.usb, cpuFlags: entry.cpuFlags, globals: entry.globals, windows: true };
  return { entry, bootMode: entry.bootMode, disk: devices.disk, nic: devices.nic, guest, devicesReason: devices.reason };
}

/** Whether the drivers directory holds any driver for this Windows (`<driver>/<os>/amd64`). */
export async function driversAvailable(driverDir: string | undefined, virtioOs: string | undefined, arch: 'amd64' | 'x86' = 'amd64'): Promise<boolean> {
  return (await findDrivers(driverDir, virtioOs, arch)).length > 0;
}

export interface WindowsInstallDeps {
  oemDir: string;
  driverDir: string | undefined;
  /** Your own ISO as the profile read it (own-media.ts): a local one is not read again. */
  media?: OwnMedia | undefined;
}

export interface WindowsInstall {
  /** The storage drives plus the setup image when one is attached, in the boot order of this run. */
  drives: DriveSpec[];
  /** Feed it the serial console; it says when to press keys. */
  watcher: BootKeyWatcher;
  plan: MediaPlan;
  setup: SetupImage | undefined;
  /** Setup reads the install CD after its first boot from the disk: it stays attached once installed. */
  keepsMedia: boolean;
}

/**
 * The firmware said it started Windows from the disk: the install is done. The install record
 * (media detached from the next start on, unless `keepMedia`) and the firmware's line are written
 * in one atomic update of windock.json.
 */
export async function recordWindowsBooted(state: StateFile, record: WindowsBootRecord, keepMedia = false): Promise<void> {
  await state.update((s) => {
    const next = recordInstallDone(s, new Date(record.at), keepMedia);
    WINDOWS_BOOT_RECORD.put(next, record);
    return next;
  });
}

export { systemDiskNumber } from './answer-input.js';

export async function prepareWindowsInstall(
  ctx: RunContext,
  storage: { drives: DriveSpec[]; firmware: FirmwareSpec; systemDisk: string },
  deps: WindowsInstallDeps,
): Promise<WindowsInstall> {
  const log = ctx.log.child({ component: 'windows' });
  const idle = (plan: MediaPlan, drives = storage.drives, keepsMedia = false): WindowsInstall => ({ drives, watcher: new BootKeyWatcher({ armed: false }), plan, setup: undefined, keepsMedia });
  const state = await ctx.state.read();
  const windowsBoot = await WINDOWS_BOOT_RECORD.read(ctx.state);
  const installMedia = storage.drives.find((d) => d.media === 'cdrom');
  if (isInstalled(state.install, windowsBoot)) {
    // Installed: the ISO goes (a windock that decided on the first RDP answer left it recorded as
    // attached), and stays gone; REMOVE=Y deletes windock's own download. The CD of a Setup that
    // still reads it stays, behind the disk.
    const keepsMedia = installMedia !== undefined && readsMediaAfterDiskBoot((await ownMediaEntry(ctx, installMedia.path, deps.media, log)).entry, storage.firmware.mode);
    const plan = planWindowsMedia({ install: state.install, windowsBoot, mediaAttached: installMedia !== undefined, manual: true, keepsMedia });
    if (keepsMedia) {
      if (ctx.config.remove) log.info({ iso: installMedia.path }, 'REMOVE=Y: the install ISO stays, as this Setup reads it after its first boot from the disk');
      return idle(plan, applyBootOrder(storage.drives, installBootOrder(storage.firmware.mode, plan)), true);
    }
    if (installMedia) await ctx.state.update((s) => void (s.install && (s.install.mediaAttached = false)));
    await removeDownloadedIso(ctx, log);
    return idle(plan, storage.drives.filter((d) => d !== installMedia));
  }
  if (!installMedia) return idle(planWindowsMedia({ install: state.install, windowsBoot, mediaAttached: false, manual: true }));

  // Your own ISO (/boot.iso, /custom.iso, BOOT=*.iso, VERSION=<URL>): its install image says which Windows it is.
  const media = await ownMediaEntry(ctx, installMedia.path, deps.media, log);
  const profile = media.entry ? windowsProfile(ctx.config, false, media.entry) : undefined;
  // Windows before Vista has no Autounattend.xml, and an ISO that is not Windows none at all: the
  // media boots for a manual install, the boot keys still pressed at its "Press any key" prompt.
  const manual = ctx.config.manual || !profile || !installsHandsOff(profile.entry);
  if (manual && !ctx.config.manual && profile) log.info({ version: profile.entry.key }, `${profile.entry.product} installs by hand in the viewer: windock has no answer file for it`);
  const plan = planWindowsMedia({ install: state.install, windowsBoot, mediaAttached: true, manual });
  log.info({ plan: { installMedia: plan.attachInstallMedia, setupImage: plan.attachSetupImage, pressKeys: plan.pressBootKeys }, reason: plan.reason }, 'Windows install media plan');
  const order = installBootOrder(storage.firmware.mode, plan);
  const drives = applyBootOrder(storage.drives, order);
  log.info({ diskFirst: order.diskFirst }, `boot order: ${order.diskFirst ? 'the disk, then the install CD' : 'the install CD, then the disk'} (${order.reason})`);
  const keepsMedia = readsMediaAfterDiskBoot(media.entry, storage.firmware.mode);
  if (!profile) return { ...idle(plan, drives, keepsMedia), watcher: new BootKeyWatcher({ armed: plan.pressBootKeys }) };
  const system = storage.drives.find((d) => d.id === 'system');

  let setup: SetupImage | undefined;
  if (plan.attachSetupImage) {
    const oem = await hasEntries(deps.oemDir);
    // The media's choice already consumed EDITION (an image index now).
    const { input: chosen, warnings } = answerFileInput(media.choice ? { ...ctx.config, edition: undefined } : ctx.config, {
      entry: profile.entry,
      firmware: storage.firmware.mode,
      drives: storage.drives,
      systemBus: system?.bus ?? profile.disk,
      tpm: storage.firmware.mode === 'secure',
      oem,
    });
    const input = media.choice ? { ...chosen, settings: applyMediaChoice(chosen.settings, media.choice, ctx.config) } : chosen;
    const settings = input.settings;
    for (const warning of warnings) log.warn(warning);
    // Loaded only when a setup image is built: the XML builder is the heaviest import of this stage.
    const { buildAnswerFile } = await import('./unattend.js');
    const answerFile = buildAnswerFile(input);
    log.info({ disk: input.diskNumber, bus: system?.bus, image: settings.image, language: settings.uiLanguage }, 'Setup installs this image to this disk number');
    setup = await buildSetupImage({
      path: join(ctx.config.runDir, SETUP_IMAGE_FILE),
      answerFile,
      oemDir: oem ? deps.oemDir : undefined,
      driverDir: deps.driverDir,
      virtioOs: profile.entry.virtioOs,
      arch: profile.entry.arch,
      signal: ctx.signal,
    });
    log.info(
      { drivers: setup.drivers, oem: setup.oem, image: setup.drive.path, user: settings.username, language: settings.uiLanguage },
      setup.drivers.length > 0 ? 'setup image built with the virtio drivers' : 'setup image built without drivers: Windows uses a SATA disk and an e1000e NIC',
    );
  }
  return {
    drives: setup ? [...drives, setup.drive] : drives,
    watcher: new BootKeyWatcher({ armed: plan.pressBootKeys }),
    plan,
    setup,
    keepsMedia,
  };
}

/**
 * The catalog entry (and image choice) for the attached ISO: read from your own ISO's install
 * image, VERSION's entry for the ISO windock downloaded for it. Logs the decision.
 */
async function ownMediaEntry(ctx: RunContext, isoPath: string, own: OwnMedia | undefined, log: Logger): Promise<{ entry: CatalogEntry | undefined; choice: MediaChoice | undefined }> {
  const record = await WINDOWS_DOWNLOAD.read(ctx.state);
  const decision = await installMediaDecision(ctx.config, isoPath, record ? join(ctx.config.storage, record.fileName) : undefined, own?.where === 'local' ? own : undefined);
  if (!decision) return { entry: windowsProfile(ctx.config, false)?.entry, choice: undefined };
  if (decision.kind === 'manual') {
    log.warn({ iso: isoPath }, decision.reason);
    return { entry: undefined, choice: undefined };
  }
  if (decision.kind === 'fallback') {
    log.warn({ iso: isoPath }, decision.warning);
    return { entry: decision.entry, choice: undefined };
  }
  const { choice } = decision;
  for (const note of decision.notes) log.info({ iso: isoPath }, note);
  const before = own?.where === 'remote' ? chooseFromMedia(own.metadata, ctx.config) : undefined;
  if (before?.kind === 'chosen' && before.choice.entry.key !== choice.entry.key) {
    log.warn(
      { iso: isoPath, url: own?.where === 'remote' ? own.url : undefined, before: before.choice.entry.key, now: choice.entry.key },
      'the downloaded ISO holds another Windows than its URL did before the download (the file changed on the server): a new disk got the firmware and devices of the one read before',
    );
  }
  log.info(
    { iso: isoPath, version: choice.entry.key, index: choice.image.index, name: choice.image.name, edition: choice.image.editionId, build: choice.image.version?.build, language: choice.culture },
    'your own ISO: Windows read from its install image',
  );
  return { entry: choice.entry, choice };
}

/** REMOVE=Y: the ISO windock downloaded goes once Windows is installed; a user's own ISO never does. */
async function removeDownloadedIso(ctx: RunContext, log: Logger): Promise<void> {
  if (!ctx.config.remove) return;
  const path = downloadedIsoToRemove(await ctx.state.read(), ctx.config.storage, ctx.config.boot, (await WINDOWS_DOWNLOAD.read(ctx.state))?.fileName);
  if (!path) return;
  const size = await stat(path).then((s) => s.size, () => undefined);
  if (size === undefined) return;
  try {
    await rm(path);
    log.info({ file: path, freedBytes: size }, 'REMOVE=Y: deleted the install ISO windock downloaded, Windows is installed');
  } catch (error) {
    log.warn({ file: path, err: (error as Error).message }, 'REMOVE=Y: the install ISO could not be deleted');
  }
}

async function hasEntries(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}
