/**
 * The guest-profile seam: what a kind of guest adds to the generic pipeline (config → host →
 * storage → network → QEMU). The run asks the profile, never the other way round: Windows lives
 * behind this interface (src/windows/windows-profile.ts), and a BOOT image gets the plain profile
 * below, which adds nothing.
 */
import type { Config } from '../config/options.js';
import type { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { DriveSpec, GuestMachine, NicModel } from '../qemu/vm-spec.js';
import type { PersistedState } from '../state/state-file.js';
import type { PreparedStorage, ResolveVersionMedia } from '../storage/prepare.js';
import type { RunContext } from '../supervisor/context.js';

/** Sends one QMP command (the boot-key watcher presses keys through it). */
export type QmpExecute = (command: string, args: Record<string, unknown> | undefined, signal: AbortSignal) => Promise<unknown>;

/** What the storage stage built, as far as a profile needs it. */
export type StorageResult = Pick<PreparedStorage, 'drives' | 'firmware' | 'systemDisk'>;

/** Reactions of the guest to the VM's life, wired by the run once. */
export interface GuestHooks {
  /** Every line of the guest's serial console. */
  onSerialLine?(line: string): void;
  /** QMP answers and the guest runs. */
  onRunning?(execute: QmpExecute): void;
  /**
   * Asked when a stop begins: the guest does not act on the ACPI power button now (Windows
   * Setup's WinPE phase), so the stop ladder waits only briefly before it quits.
   */
  ignoresPowerButton?(): boolean;
}

/** What a profile adds to the VM once storage is ready. */
export interface GuestSetup {
  /** The drives QEMU gets: the storage drives, plus what the guest adds (a setup image). */
  drives: DriveSpec[];
  /** QEMU arguments the guest needs, before the user's ARGUMENTS. */
  extraArgs: string[];
  /** The NIC model the network gives the guest; undefined: the network's own default. */
  nic: NicModel | undefined;
  /** What the guest needs of the machine (old Windows: i440FX, IDE, UHCI); undefined: q35 as it is. */
  machine: GuestMachine | undefined;
  hooks: GuestHooks;
  /**
   * The profile records when the install is done from its own evidence (Windows: the firmware's
   * console line); the guest answering on READY_PORT then records nothing. Unset: the first
   * answer records the boot from disk (BOOT images).
   */
  recordsInstall?: boolean;
}

export interface GuestProfile {
  readonly name: string;
  /** Settings mistakes only this kind of guest can see; they run inside resolveConfig (exit 2). */
  checkSettings(config: Config): AppError[];
  /**
   * The settings with the guest's defaults filled in where the user left them unset (firmware,
   * disk bus), given what windock.json recorded of the disk.
   */
  settle(config: Config, recorded: PersistedState, log: Logger): Config;
  /**
   * The guest installs without a TPM when swtpm cannot start (src/tpm/tpm-stage.ts): a hands-off
   * Windows, whose answer file then bypasses Setup's TPM and Secure Boot checks.
   */
  readonly installsWithoutTpm: boolean;
  /** How VERSION becomes media; undefined: only a URL is accepted. */
  readonly versionMedia: ResolveVersionMedia | undefined;
  /** Drives, arguments and hooks, once storage is ready (and before the network starts). */
  prepare(ctx: RunContext, storage: StorageResult): Promise<GuestSetup>;
}

/**
 * Whether BOOT names an ISO (a path or URL ending in .iso): such a BOOT goes to the Windows
 * profile, which reads the ISO and installs it hands-off when it is Windows Setup media, and
 * boots it for a manual install otherwise.
 */
export function bootIsIso(boot: string): boolean {
  const path = /^[a-z]+:\/\//i.test(boot) ? boot.replace(/[?#].*$/, '') : boot;
  return /\.iso$/i.test(path.trim());
}

/** A BOOT image: the user's media and settings as they are. */
export const plainProfile: GuestProfile = {
  name: 'plain',
  checkSettings: () => [],
  settle: (config) => config,
  installsWithoutTpm: false,
  versionMedia: undefined,
  prepare: async (_ctx, storage) => ({ drives: storage.drives, extraArgs: [], nic: undefined, machine: undefined, hooks: {} }),
};
