/**
 * EPHEMERAL=Y: every start runs the guest on a throw-away qcow2 overlay over the system disk, and
 * on a throw-away copy of the UEFI variable store, both recreated at each start. The system disk
 * (data.qcow2 or data.img, itself perhaps an overlay on a BOOT base) is opened read-only as the
 * overlay's backing file, so it and the base stay byte-identical however the session writes.
 *
 * The overlay lives in STORAGE rather than RUN_DIR: a session can write gigabytes, and STORAGE is
 * the volume meant for that. Its names are windock's own (never a user's disk); they are deleted
 * and recreated here, and nowhere else. The TPM state (STORAGE/tpm) is kept: it holds the
 * machine's keys rather than the session's changes.
 */
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FirmwareSpec, DriveSpec } from '../qemu/vm-spec.js';
import type { QemuImg } from '../storage/qemu-img.js';

export const EPHEMERAL_DISK = 'ephemeral.qcow2';
export const EPHEMERAL_VARS = 'ephemeral-vars.fd';

export interface EphemeralPlan {
  overlay: { path: string; base: string; baseFormat: string };
  /** The vars store to copy for the session, when the VM boots UEFI. */
  vars: { from: string; to: string } | undefined;
  drives: DriveSpec[];
  firmware: FirmwareSpec;
  /** Files this plan deletes and recreates: only windock's own throw-away names. */
  replaces: string[];
}

/** Which files a session touches: pure, so that a test can see the persistent disk is not among them. */
export function planEphemeral(storageDir: string, drives: readonly DriveSpec[], firmware: FirmwareSpec): EphemeralPlan {
  const system = drives.find((d) => d.id === 'system');
  if (!system) throw new Error('planEphemeral: no system drive');
  const overlayPath = join(storageDir, EPHEMERAL_DISK);
  const vars = firmware.mode === 'legacy' ? undefined : { from: firmware.vars, to: join(storageDir, EPHEMERAL_VARS) };
  return {
    overlay: { path: overlayPath, base: system.path, baseFormat: system.format },
    vars,
    drives: drives.map((d) => (d.id === 'system' ? { ...d, path: overlayPath, format: 'qcow2' } : d)),
    firmware: firmware.mode === 'legacy' || !vars ? firmware : { ...firmware, vars: vars.to },
    replaces: [overlayPath, ...(vars ? [vars.to] : [])],
  };
}

/** Discards the last session and makes the new one's overlay (and vars copy). */
export async function applyEphemeral(plan: EphemeralPlan, qemuImg: QemuImg, signal: AbortSignal): Promise<void> {
  for (const path of plan.replaces) await rm(path, { force: true });
  await qemuImg.create({ path: plan.overlay.path, format: 'qcow2', backing: { path: plan.overlay.base, format: plan.overlay.baseFormat } }, { signal });
  if (plan.vars) await copyFile(plan.vars.from, plan.vars.to);
}
