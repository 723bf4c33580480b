/**
 * Windows as a guest profile (src/guest/profile.ts): the one entry into src/windows/, used when
 * no BOOT is given. Checks the account settings against the version, chooses firmware and devices
 * for the version, resolves its media through the catalog and Microsoft's download flow, adds the
 * setup image, and presses Enter at the install media's "Press any key" prompt. The decisions
 * stay in the pure modules (catalog, settings, install-state, boot-key); the heavy ones (Microsoft's
 * download flow, the setup image) load only when the run gets here.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/options.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { GuestProfile, GuestSetup, StorageResult } from '../guest/profile.js';
import { escapeValue } from '../qemu/args.js';
import type { NicModel } from '../qemu/vm-spec.js';
import { stateSlice, type PersistedState, type StateFile } from '../state/state-file.js';
import type { ResolveVersionMedia } from '../storage/prepare.js';
import type { RunContext } from '../supervisor/context.js';
import { CATALOG, installsHandsOff, resolveVersion, type CatalogEntry } from './catalog.js';
import type { FirmwareFact } from './firmware-boot.js';
import { chooseFromMedia } from './iso-choice.js';
import { readOwnMedia, type OwnMedia } from './own-media.js';
import { windowsSettings } from './settings.js';

/**
 * VERSION must name a known Windows (or be a URL) when no BOOT is given, and the Windows account
 * settings must suit that Windows. Pure; runs inside resolveConfig so that a mistake exits 2
 * before a download of several GB.
 */
export function checkWindowsSettings(config: Config): AppError[] {
  if (config.boot) return [];
  try {
    const version = resolveVersion(config.version);
    if (version.kind === 'catalog' && !config.manual) windowsSettings(config, version.entry);
    return [];
  } catch (error) {
    if (error instanceof AppError) return [error];
    throw error;
  }
}

/** The Windows profile for this configuration (VERSION a catalog key or an ISO's URL). `signal`: the run's stop. */
export async function createWindowsProfile(config: Config, log: Logger, signal?: AbortSignal): Promise<GuestProfile> {
  const stage = await import('./windows-stage.js');
  // Your own ISO is read now, so that firmware and devices suit the Windows it holds (own-media.ts):
  // a local file, or an ISO's URL through range requests before its download.
  const own = await readOwnMedia(config, signal);
  const fromMedia = ownMediaEntry(config, own, log);
  const base = stage.windowsProfile(config, false, fromMedia);
  const defaults = base ? stage.windowsProfile(config, await stage.driversAvailable(stage.DEFAULT_DRIVER_DIR, base.entry.virtioOs, base.entry.arch), fromMedia) : undefined;
  if (defaults) log.info({ version: defaults.entry.key, bootMode: defaults.bootMode, disk: defaults.disk, nic: defaults.nic }, defaults.devicesReason);
  const media = await import('./version-media.js');
  return {
    name: 'windows',
    checkSettings: checkWindowsSettings,
    settle: (settings: Config, recorded: PersistedState) =>
      // The disk bus only for a new disk: an existing one keeps the bus recorded when it was made (storage-plan.ts).
      // The firmware recorded for the disk before the version's default: a disk keeps the mode it
      // was made with (firmware.ts), e.g. UEFI without a TPM after swtpm failed (tpm-stage.ts).
      defaults ? { ...settings, bootMode: settings.bootMode ?? recorded.bootMode ?? defaults.bootMode, diskType: settings.diskType ?? (recorded.diskBus ? undefined : defaults.disk) } : settings,
    // Only with an answer file: without one Setup's TPM check stops a Windows 11 install.
    installsWithoutTpm: defaults !== undefined && !config.manual && installsHandsOff(defaults.entry),
    versionMedia: media.windowsVersionMedia(media.defaultVersionMediaDeps({ log })) as ResolveVersionMedia,
    prepare: async (ctx, storage) => ({
      // English media for another LANGUAGE (the download's fallback): Setup gets the media's language.
      ...(await prepareInstall({ ...ctx, config: await media.answerConfig(ctx, storage.drives) }, storage, stage, own)),
      nic: defaults ? await recordedNic(ctx.state, defaults.nic, ctx.log) : undefined,
      machine: defaults?.guest,
    }),
  };
}

/**
 * The catalog entry your own ISO's metadata chooses; undefined when there is none, or it says
 * nothing usable (for a local ISO the stage logs why, from the same metadata). An ISO's URL that
 * could not be read before its download gets what it got before windock could read it: VERSION=<URL>
 * Windows 10's row, what every Windows since 8.1 installs on (UEFI; SATA and e1000e, or virtio
 * with drivers), never virtio without drivers, on which Setup finds no disk; BOOT=<URL> nothing.
 */
function ownMediaEntry(config: Config, own: OwnMedia | undefined, log: Logger): CatalogEntry | undefined {
  if (!own) return undefined;
  if (own.where === 'local') {
    const decision = chooseFromMedia(own.metadata, config);
    return decision.kind === 'chosen' ? decision.choice.entry : undefined;
  }
  const before = config.boot ? undefined : CATALOG.find((e) => e.key === '10');
  const fallback = before ? "Windows 10's defaults (UEFI without secure boot) until its download is read" : 'no Windows defaults until its download is read';
  if (own.where === 'later') {
    log.debug({ url: own.url, reason: own.reason }, `your own ISO at a URL is not read before its download: ${fallback}`);
    return before;
  }
  const decision = chooseFromMedia(own.metadata, config);
  if (decision.kind !== 'chosen') {
    const reason = own.metadata.kind === 'unreadable' ? own.metadata.error : decision.kind === 'manual' ? decision.reason : decision.warning;
    log.warn({ url: own.url, reason }, `your own ISO at a URL could not be read before its download: ${fallback}`);
    return before;
  }
  const { choice } = decision;
  log.info(
    { url: own.url, version: choice.entry.key, index: choice.image.index, name: choice.image.name, build: choice.image.version?.build, requests: own.requests.length, bytes: own.requests.reduce((sum, r) => sum + r.end - r.start, 0) },
    'your own ISO at a URL: Windows read from its install image before the download',
  );
  return choice.entry;
}

const NIC_RECORD = stateSlice<NicModel>('nicModel');

/**
 * The NIC the guest gets: the one recorded at install, so that a later image with or without
 * virtio drivers never swaps the adapter under an installed Windows (it keeps its network
 * settings per adapter, and has drivers for this one); the profile's choice, recorded, on the
 * first run.
 */
export async function recordedNic(state: StateFile, chosen: NicModel, log: Logger): Promise<NicModel> {
  const recorded = await NIC_RECORD.read(state);
  if (recorded !== undefined) {
    if (recorded !== chosen) log.info({ recorded, profile: chosen }, 'keeping the NIC model this Windows was installed with');
    return recorded;
  }
  await NIC_RECORD.write(state, chosen);
  return chosen;
}

async function prepareInstall(ctx: RunContext, storage: StorageResult, stage: typeof import('./windows-stage.js'), own: OwnMedia | undefined): Promise<Omit<GuestSetup, 'nic' | 'machine'>> {
  const install = await stage.prepareWindowsInstall(ctx, storage, { oemDir: stage.DEFAULT_OEM_DIR, driverDir: stage.DEFAULT_DRIVER_DIR, media: own });
  const { createBootKeyHandler, SEABIOS_SERCON } = await import('./boot-key.js');
  const extraArgs: string[] = [];
  if (!install.plan.installed && storage.firmware.mode === 'legacy') {
    // SeaBIOS prints to the serial console only when told its port via fw_cfg; without it the
    // watchers never see "Booting from DVD/CD..." nor "Booting from Hard Disk...".
    const file = join(ctx.config.runDir, 'sercon-port.bin');
    await writeFile(file, SEABIOS_SERCON.bytes);
    extraArgs.push('-fw_cfg', `name=${SEABIOS_SERCON.name},file=${escapeValue(file)}`);
  }
  const log = ctx.log.child({ component: 'windows' });
  const keys = createBootKeyHandler({ watcher: install.watcher, log, signal: ctx.signal });
  const { FirmwareBootWatch, SEABIOS_DISK_CONFIRM_MS } = await import('./firmware-boot.js');
  const firmware = new FirmwareBootWatch({ installed: install.plan.installed });
  // SeaBIOS, disk first: a disk whose boot code refuses gets the CD once (seabios-retry.ts).
  const cd = install.drives.find((d) => d.media === 'cdrom');
  const retry = !install.plan.installed && storage.firmware.mode === 'legacy' && cd?.bootIndex !== undefined
    ? (await import('./seabios-retry.js')).createCdRetry({ id: cd.id, bootIndex: cd.bootIndex }, ctx.signal)
    : undefined;
  const retryStep = (step: Promise<string | undefined> | undefined): void =>
    void step?.then(
      (done) => done && log.info({}, done),
      (error: Error) => log.warn({ err: error.message }, 'could not change the boot order over QMP: the guest stays at its boot code\'s message; the next start tries again'),
    );
  let confirmTimer: NodeJS.Timeout | undefined;
  const stopTimer = (): void => void (confirmTimer && clearTimeout(confirmTimer));
  ctx.signal.addEventListener('abort', stopTimer, { once: true });
  const onFacts = (facts: readonly FirmwareFact[]): void => {
    for (const fact of facts) {
      if (fact.kind === 'setup-started') {
        log.info({ line: fact.line }, 'the install media started: Setup runs (it ignores the power button until Windows boots from the disk)');
        retryStep(retry?.onSetupStarted());
      }
      if (fact.kind === 'disk-started') {
        log.info({ line: fact.line }, 'SeaBIOS starts the disk: it counts as Windows booting from the disk unless its boot code refuses, or once the guest resets');
        // Bounded: one timer per disk start, cleared at the end of the run.
        stopTimer();
        confirmTimer = setTimeout(() => onFacts(firmware.settle(new Date())), SEABIOS_DISK_CONFIRM_MS + 500);
        confirmTimer.unref();
      }
      if (fact.kind === 'disk-not-bootable') {
        stopTimer();
        if (fact.bootCode) {
          log.warn({ line: fact.line }, 'the disk\'s boot code found no Windows to start: Setup has not finished writing it; the install is not recorded as done');
          retryStep(retry?.onDiskRefused());
        } else log.info({ line: fact.line }, 'the disk is not bootable yet: the install media boots next');
      }
      if (fact.kind !== 'windows-from-disk') continue;
      stopTimer();
      log.info({ firmware: fact.record.firmware, line: fact.record.line }, install.keepsMedia
        ? 'the firmware started Windows from the disk: installed; the answer file is detached from the next start, the install CD stays (this Setup reads it after its first boot from the disk)'
        : 'the firmware started Windows from the disk: installed; the install media and the answer file are detached from the next start');
      stage.recordWindowsBooted(ctx.state, fact.record, install.keepsMedia).catch((error: Error) => log.warn({ err: error.message }, 'could not record the install state'));
    }
  };
  const onFirmwareLine = (line: string): void => onFacts(firmware.feed(line, new Date()));
  return {
    drives: install.drives,
    extraArgs,
    hooks: {
      onSerialLine: (line) => {
        keys.onSerialLine(line);
        onFirmwareLine(line);
      },
      onRunning: (execute) => {
        keys.attach((command, args, signal) => execute(command, args, signal));
        retry?.attach(execute);
      },
      ignoresPowerButton: () => firmware.inSetup,
    },
    recordsInstall: true,
  };
}
