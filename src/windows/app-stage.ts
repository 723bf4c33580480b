/**
 * The Windows layer as the composition root uses it: one import, loaded only when VERSION names
 * a Windows (no BOOT). Chooses firmware and devices for the version, resolves its media through
 * the catalog and Microsoft's download flow, adds the setup image, and presses Enter at the
 * install media's "Press any key" prompt.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/options.js';
import type { RunContext } from '../core/context.js';
import type { Logger } from '../core/log.js';
import { escapeValue } from '../qemu/args.js';
import type { DriveSpec, FirmwareSpec, NicModel } from '../qemu/vm-spec.js';
import type { ResolveVersionMedia } from '../storage/prepare.js';
import type { QemuImg } from '../storage/qemu-img.js';
import type { StateFile } from '../storage/state-file.js';
import { createBootKeyHandler, SEABIOS_SERCON } from './boot-key.js';
import { defaultVersionMediaDeps, windowsVersionMedia } from './version-media.js';
import { DEFAULT_DRIVER_DIR, DEFAULT_OEM_DIR, driversAvailable, prepareWindowsInstall, windowsProfile, type WindowsProfile } from './windows-stage.js';

export type { WindowsProfile };

export async function loadWindowsProfile(config: Config): Promise<WindowsProfile | undefined> {
  const base = windowsProfile(config, false);
  if (!base) return undefined;
  return windowsProfile(config, await driversAvailable(DEFAULT_DRIVER_DIR, base.entry.virtioOs, base.entry.arch));
}

/**
 * The NIC the guest gets: the one recorded at install (windock.json `nicModel`), so that a later
 * image with or without virtio drivers never swaps the adapter under an installed Windows; the
 * profile's choice, recorded, on the first run.
 */
export async function recordedNic(state: StateFile, profile: WindowsProfile, log: Logger): Promise<NicModel> {
  const recorded = (await state.read()).nicModel;
  if (recorded !== undefined) {
    if (recorded !== profile.nic) log.info({ recorded, profile: profile.nic }, 'keeping the NIC model this Windows was installed with');
    return recorded;
  }
  await state.update((s) => {
    s.nicModel = profile.nic;
  });
  return profile.nic;
}

export function versionMedia(log: Logger): ResolveVersionMedia {
  return windowsVersionMedia(defaultVersionMediaDeps({ log })) as ResolveVersionMedia;
}

export interface PreparedInstall {
  drives: DriveSpec[];
  /** QEMU arguments the install needs (SeaBIOS's serial console for the key watcher). */
  extraArgs: string[];
  keys(log: Logger, signal: AbortSignal): ReturnType<typeof createBootKeyHandler>;
}

export async function prepareInstall(
  ctx: RunContext,
  storage: { drives: DriveSpec[]; firmware: FirmwareSpec; systemDisk: string },
  qemuImg: QemuImg,
): Promise<PreparedInstall> {
  const install = await prepareWindowsInstall(ctx, storage, { oemDir: DEFAULT_OEM_DIR, driverDir: DEFAULT_DRIVER_DIR, qemuImg });
  const extraArgs: string[] = [];
  if (install.plan.pressBootKeys && storage.firmware.mode === 'legacy') {
    // SeaBIOS prints to the serial console only when told its port via fw_cfg; without it the
    // watcher never sees "Booting from DVD/CD...".
    const file = join(ctx.config.runDir, 'sercon-port.bin');
    await writeFile(file, SEABIOS_SERCON.bytes);
    extraArgs.push('-fw_cfg', `name=${SEABIOS_SERCON.name},file=${escapeValue(file)}`);
  }
  return {
    drives: install.drives,
    extraArgs,
    keys: (log, signal) => createBootKeyHandler({ watcher: install.watcher, log: log.child({ component: 'windows' }), signal }),
  };
}
