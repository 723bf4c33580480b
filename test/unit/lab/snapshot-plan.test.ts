/** Which nodes a snapshot covers, and which steps each request takes (the no-data-loss rule). */
import { describe, expect, it } from 'vitest';
import { autoSnapshotName, planSnapshotRequest, snapshotsOf, snapshotTargets, type SnapshotInfo } from '../../../src/lab/snapshot-plan.js';
import type { DriveSpec } from '../../../src/qemu/vm-spec.js';

const disk = (id: string, format: DriveSpec['format'], extra: Partial<DriveSpec> = {}): DriveSpec => ({
  id, path: `/storage/${id}.${format}`, format, media: 'disk', bus: 'scsi', readOnly: false, bootIndex: undefined, ...extra,
});
const iso: DriveSpec = { id: 'install', path: '/storage/win.iso', format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 2 };
const now = new Date('2026-12-01T12:15:00.123Z');
const snap = (name: string): SnapshotInfo => ({ name, date: now.toISOString(), vmStateBytes: 1 });

describe('snapshotTargets', () => {
  it('puts the VM state on the system disk and snapshots every writable qcow2 disk, not read-only media', () => {
    expect(snapshotTargets([iso, disk('system', 'qcow2'), disk('data2', 'qcow2')])).toEqual({ vmstate: 'system', devices: ['system', 'data2'] });
  });
  it('refuses a raw writable disk, naming it and the ways out', () => {
    expect(() => snapshotTargets([disk('system', 'raw')])).toThrow(/snapshots need qcow2 disks; the disk \/storage\/system.raw is raw/);
    expect(() => snapshotTargets([disk('system', 'qcow2'), disk('data2', 'raw')])).toThrow(/data2.raw is raw/);
  });
  it('ignores a read-only raw disk', () => {
    expect(snapshotTargets([disk('system', 'qcow2'), disk('base', 'raw', { readOnly: true })]).devices).toEqual(['system']);
  });
});

it('snapshotsOf reads the vmstate node of query-named-block-nodes and nothing else', () => {
  const nodes = [
    { 'node-name': 'system-file', image: { snapshots: [{ name: 'wrong' }] } },
    { 'node-name': 'system', image: { snapshots: [{ name: 'clean', 'date-sec': 1796126186, 'vm-state-size': 1024 }, { id: '2' }] } },
  ];
  expect(snapshotsOf(nodes, 'system')).toEqual([{ name: 'clean', date: '2026-12-01T11:56:26.000Z', vmStateBytes: 1024 }]);
  expect(snapshotsOf(nodes, 'absent')).toEqual([]);
  expect(snapshotsOf({ not: 'a list' }, 'system')).toEqual([]);
});

it('autoSnapshotName is a valid, sortable name', () => {
  expect(autoSnapshotName('revert', now)).toBe('auto-before-revert-20261201-121500');
});

describe('planSnapshotRequest', () => {
  it('saves a new name and refuses to replace an existing one', () => {
    expect(planSnapshotRequest({ op: 'snapshot-save', name: 'a' }, [], 'persistent', now)).toEqual([{ kind: 'save', name: 'a', reason: 'requested' }]);
    expect(() => planSnapshotRequest({ op: 'snapshot-save', name: 'a' }, [snap('a')], 'persistent', now)).toThrow(/exists already; a save never replaces one/);
  });

  it('on a persistent disk, a revert saves the current state first; the target is never deleted', () => {
    const steps = planSnapshotRequest({ op: 'snapshot-revert', name: 'clean', discardChanges: false }, [snap('clean')], 'persistent', now);
    expect(steps).toEqual([
      { kind: 'save', name: 'auto-before-revert-20261201-121500', reason: expect.stringContaining('--discard-changes') },
      { kind: 'load', name: 'clean' },
    ]);
    expect(steps.some((s) => s.kind === 'delete')).toBe(false);
  });

  it('--discard-changes, or EPHEMERAL=Y, loads without the automatic snapshot', () => {
    const expected = [{ kind: 'load', name: 'clean' }];
    expect(planSnapshotRequest({ op: 'snapshot-revert', name: 'clean', discardChanges: true }, [snap('clean')], 'persistent', now)).toEqual(expected);
    expect(planSnapshotRequest({ op: 'snapshot-revert', name: 'clean', discardChanges: false }, [snap('clean')], 'ephemeral', now)).toEqual(expected);
  });

  it('an automatic name already taken gets a suffix', () => {
    const taken = [snap('clean'), snap('auto-before-revert-20261201-121500')];
    expect(planSnapshotRequest({ op: 'snapshot-revert', name: 'clean', discardChanges: false }, taken, 'persistent', now)[0]).toMatchObject({ name: 'auto-before-revert-20261201-121500-2' });
  });

  it('reset goes to "golden", and explains how to get one when there is none', () => {
    expect(planSnapshotRequest({ op: 'reset', discardChanges: false }, [snap('golden')], 'ephemeral', now)).toEqual([{ kind: 'load', name: 'golden' }]);
    expect(planSnapshotRequest({ op: 'reset', discardChanges: false }, [snap('golden')], 'persistent', now).map((s) => s.kind)).toEqual(['save', 'load']);
    expect(() => planSnapshotRequest({ op: 'reset', discardChanges: false }, [snap('clean')], 'persistent', now)).toThrow(/no snapshot named "golden"; there is "clean"/);
  });

  it('delete and revert name what exists when the snapshot does not', () => {
    expect(() => planSnapshotRequest({ op: 'snapshot-delete', name: 'x' }, [], 'persistent', now)).toThrow(/no snapshot named "x"; there are none/);
    expect(() => planSnapshotRequest({ op: 'snapshot-revert', name: 'x', discardChanges: true }, [snap('a'), snap('b')], 'persistent', now)).toThrow(/there are "a", "b"/);
  });
});
