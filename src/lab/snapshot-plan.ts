/**
 * Snapshots, decided in pure functions: which block nodes a snapshot covers, what QEMU's node
 * list says exists, and which steps a request takes (an automatic snapshot first, then a load).
 *
 * What a snapshot covers. QMP `snapshot-save` (QEMU 6.0+, qapi/migration.json) writes an
 * internal qcow2 snapshot on every node in `devices` and the VM state (RAM, CPU and device
 * state) into the `vmstate` node, all while the VM is paused, so the disk and the machine are one
 * point in time. Two pieces of state are not disks of their own:
 * - the UEFI variable store stays a raw file on pflash (firmware.ts): raw nodes hold no internal
 *   snapshots, so it is left out of `devices`. It is covered anyway: cfi.pflash01 keeps the whole
 *   flash in a RAM region that travels in the VM state, and on load its post_load hook writes the
 *   restored content back to the file once the VM runs (hw/block/pflash_cfi01.c,
 *   pflash_post_load → postload_update_cb). Keeping the file raw means no conversion of a user's
 *   existing store and no new format for the firmware to read.
 * - the TPM: QEMU's tpm-emulator backend migrates swtpm's permanent and volatile state blobs as
 *   part of the VM state (backends/tpm/tpm_emulator.c, vmstate_tpm_emulator), so a load puts
 *   the TPM back too.
 * Every other writable disk must be qcow2: a raw one would silently keep its newest data while
 * the rest went back in time.
 */
import { AppError } from '../core/errors.js';
import type { DriveSpec } from '../qemu/vm-spec.js';
import type { ControlRequest } from './control-protocol.js';

export interface SnapshotTargets {
  /** The node that receives the VM state (the system disk). */
  vmstate: string;
  /** Every writable disk node; each gets the snapshot. */
  devices: string[];
}

export interface SnapshotInfo {
  name: string;
  /** ISO date of the snapshot. */
  date: string;
  /** Bytes of saved VM state (0 for a disk-only snapshot made offline with qemu-img). */
  vmStateBytes: number;
}

/** The snapshot EPHEMERAL=Y saves at every start, before the guest runs; `windock reset` loads it. */
export const GOLDEN_SNAPSHOT = 'golden';

export function snapshotTargets(drives: readonly DriveSpec[]): SnapshotTargets {
  const writable = drives.filter((d) => d.media === 'disk' && !d.readOnly);
  const system = writable.find((d) => d.id === 'system') ?? writable[0];
  if (!system) throw new AppError('config', 'snapshots need a writable disk, and this VM has none');
  const raw = writable.find((d) => d.format !== 'qcow2');
  if (raw) {
    throw new AppError('config', `snapshots need qcow2 disks; the disk ${raw.path} is ${raw.format}`, {
      hint: 'Convert it once with `qemu-img convert -O qcow2` (keep the original until the copy boots), or set EPHEMERAL=Y, which runs every session on a qcow2 overlay.',
      details: { disk: raw.path, format: raw.format },
    });
  }
  return { vmstate: system.id, devices: writable.map((d) => d.id) };
}

interface NodeSnapshot {
  name?: unknown;
  'date-sec'?: unknown;
  'vm-state-size'?: unknown;
}

/** The snapshots of the vmstate node, from `query-named-block-nodes` (flat), oldest first. */
export function snapshotsOf(nodes: unknown, vmstate: string): SnapshotInfo[] {
  if (!Array.isArray(nodes)) return [];
  const node = nodes.find((n): n is { image?: { snapshots?: NodeSnapshot[] } } => typeof n === 'object' && n !== null && (n as { 'node-name'?: unknown })['node-name'] === vmstate);
  const list = node?.image?.snapshots;
  if (!Array.isArray(list)) return [];
  return list
    .filter((s) => typeof s.name === 'string')
    .map((s) => ({
      name: s.name as string,
      date: new Date((typeof s['date-sec'] === 'number' ? s['date-sec'] : 0) * 1000).toISOString(),
      vmStateBytes: typeof s['vm-state-size'] === 'number' ? s['vm-state-size'] : 0,
    }));
}

export type SnapshotStep =
  | { kind: 'save'; name: string; reason: string }
  | { kind: 'load'; name: string }
  | { kind: 'delete'; name: string };

/** Which session this is: a persistent disk, or EPHEMERAL=Y's throw-away overlay. */
export type DiskMode = 'persistent' | 'ephemeral';

/** `auto-before-revert-20261201-121500`: the automatic snapshot that keeps the newest data. */
export function autoSnapshotName(op: 'revert' | 'reset', now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `auto-before-${op}-${stamp}`;
}

/**
 * The steps of a snapshot request, or the refusal. The rule: a revert never deletes a snapshot,
 * and nothing discards the current state of a persistent disk without a snapshot of it first,
 * unless the user says so (`--discard-changes`). Under EPHEMERAL=Y the user already said so: the
 * whole session is throw-away, and an automatic snapshot would only be deleted at the next start.
 */
export function planSnapshotRequest(
  request: Extract<ControlRequest, { op: 'snapshot-save' | 'snapshot-delete' | 'snapshot-revert' | 'reset' }>,
  existing: readonly SnapshotInfo[],
  mode: DiskMode,
  now: Date,
): SnapshotStep[] {
  const names = existing.map((s) => s.name);
  const known = (name: string): void => {
    if (names.includes(name)) return;
    throw new AppError('config', `no snapshot named ${JSON.stringify(name)}; there ${names.length === 1 ? 'is' : 'are'} ${names.length === 0 ? 'none' : names.map((n) => JSON.stringify(n)).join(', ')}`, {
      hint: request.op === 'reset'
        ? `windock reset goes back to the snapshot "${GOLDEN_SNAPSHOT}": set EPHEMERAL=Y (saved at every start), or save it once the guest is as it should be: windock snapshot save ${GOLDEN_SNAPSHOT}`
        : 'See them with: windock snapshot list',
      details: { snapshot: name, existing: names },
    });
  };
  switch (request.op) {
    case 'snapshot-save':
      if (names.includes(request.name)) {
        throw new AppError('config', `a snapshot named ${JSON.stringify(request.name)} exists already; a save never replaces one`, {
          hint: `Choose another name, or delete it first: windock snapshot delete ${request.name}`,
          details: { snapshot: request.name },
        });
      }
      return [{ kind: 'save', name: request.name, reason: 'requested' }];
    case 'snapshot-delete':
      known(request.name);
      return [{ kind: 'delete', name: request.name }];
    case 'snapshot-revert':
    case 'reset': {
      const target = request.op === 'reset' ? GOLDEN_SNAPSHOT : request.name;
      known(target);
      const steps: SnapshotStep[] = [];
      if (mode === 'persistent' && !request.discardChanges) {
        const op = request.op === 'reset' ? 'reset' : 'revert';
        const auto = autoSnapshotName(op, now);
        let name = auto;
        for (let n = 2; names.includes(name); n++) name = `${auto}-${n}`;
        steps.push({ kind: 'save', name, reason: `keeps the state before the ${op} (--discard-changes skips it)` });
      }
      steps.push({ kind: 'load', name: target });
      return steps;
    }
  }
}
