/**
 * The TPM step of a run, placed before storage: the firmware (and with it the UEFI variable store
 * and, for Windows, the answer file) depends on whether a TPM exists, so swtpm is started first
 * and a failure is decided before anything is made from the firmware mode.
 *
 * When swtpm cannot start, a guest that can install without a TPM (a hands-off Windows: its
 * answer file sets Setup's LabConfig bypasses, src/windows/unattend.ts) falls back to UEFI without
 * secure boot and without a TPM, with one warning naming swtpm's error. The fallback is refused
 * (today's exit with the error) where it would change what the user or the disk was promised:
 * a disk whose firmware windock.json records as secure, an explicit BOOT_MODE=secure, and a
 * guest windock knows nothing about (BOOT images).
 */
import type { Config } from '../config/options.js';
import { AppError, errorMessage } from '../core/errors.js';
import { chooseBootMode, type BootMode } from '../storage/firmware.js';
import type { RunContext } from '../supervisor/context.js';
import type { TpmSession } from './swtpm.js';

export interface TpmFacts {
  /** BOOT_MODE as the user set it, before the guest profile filled in its default. */
  userBootMode: BootMode | undefined;
  /** The firmware windock.json recorded for the disk. */
  recordedBootMode: BootMode | undefined;
  /** The guest installs without a TPM when swtpm fails (GuestProfile.installsWithoutTpm). */
  guestInstallsWithoutTpm: boolean;
}

export type TpmFailurePlan = { action: 'fall-back'; bootMode: 'uefi' } | { action: 'fail'; reason: string };

/**
 * Whether the firmware will be secure, hence needs the TPM. Asked of the storage stage's own rule
 * (chooseBootMode): only an explicit or a recorded mode can be secure, and both are known before
 * storage runs, so the disk facts passed here never decide.
 */
export function needsTpm(settledBootMode: BootMode | undefined, recordedBootMode: BootMode | undefined): boolean {
  return chooseBootMode({ explicit: settledBootMode, recorded: recordedBootMode, disk: 'image' }).mode === 'secure';
}

/** What a swtpm that cannot start leads to. Pure. */
export function onTpmFailure(facts: TpmFacts): TpmFailurePlan {
  if (facts.recordedBootMode === 'secure') {
    return { action: 'fail', reason: 'the disk was set up with secure boot and a TPM (windock.json): windock does not change the firmware of an existing disk' };
  }
  if (facts.userBootMode === 'secure') return { action: 'fail', reason: 'BOOT_MODE=secure asks for secure boot and a TPM' };
  if (!facts.guestInstallsWithoutTpm) {
    return { action: 'fail', reason: 'the guest is not a Windows that windock installs hands-off, so nothing would bypass its TPM checks' };
  }
  return { action: 'fall-back', bootMode: 'uefi' };
}

export const TPM_FALLBACK_WARNING =
  "swtpm cannot start: the guest gets UEFI without secure boot and without a TPM, and the answer file bypasses Windows Setup's TPM and Secure Boot checks";

/**
 * Starts the TPM when the firmware will be secure. Returns the session (or none) and the
 * configuration the later stages use: BOOT_MODE=uefi after a fallback, so that storage makes the
 * plain UEFI variable store and records that mode for the disk.
 */
export async function startTpmStage(
  ctx: Pick<RunContext, 'config' | 'log' | 'signal'>,
  start: () => Promise<TpmSession>,
  facts: TpmFacts,
): Promise<{ tpm: TpmSession | undefined; config: Config }> {
  if (!needsTpm(ctx.config.bootMode, facts.recordedBootMode)) return { tpm: undefined, config: ctx.config };
  try {
    return { tpm: await start(), config: ctx.config };
  } catch (error) {
    // A stop request while swtpm started is no swtpm failure.
    if (ctx.signal.aborted) throw error;
    const plan = onTpmFailure(facts);
    if (plan.action === 'fail') {
      if (!(error instanceof AppError)) throw error;
      throw new AppError(error.code, error.message, { hint: `${error.hint ?? ''} No fallback to UEFI without a TPM: ${plan.reason}.`.trim(), cause: error.cause ?? error, details: error.details });
    }
    ctx.log.warn({ component: 'swtpm', err: errorMessage(error), bootMode: plan.bootMode }, TPM_FALLBACK_WARNING);
    return { tpm: undefined, config: { ...ctx.config, bootMode: plan.bootMode } };
  }
}
