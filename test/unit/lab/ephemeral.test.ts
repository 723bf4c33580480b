/** EPHEMERAL=Y's plan: which files a session replaces (only windock's throw-away ones). */
import { expect, it } from 'vitest';
import { planEphemeral } from '../../../src/lab/ephemeral.js';
import type { DriveSpec } from '../../../src/qemu/vm-spec.js';

const system: DriveSpec = { id: 'system', path: '/storage/data.img', format: 'raw', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 };
const iso: DriveSpec = { id: 'install', path: '/storage/win.iso', format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 2 };

it('runs the system disk through a qcow2 overlay backed by it, and the UEFI vars from a copy', () => {
  const plan = planEphemeral('/storage', [system, iso], { mode: 'uefi', code: '/ovmf/code.fd', vars: '/storage/uefi-vars.fd' });
  expect(plan.overlay).toEqual({ path: '/storage/ephemeral.qcow2', base: '/storage/data.img', baseFormat: 'raw' });
  expect(plan.drives).toEqual([{ ...system, path: '/storage/ephemeral.qcow2', format: 'qcow2' }, iso]);
  expect(plan.firmware).toEqual({ mode: 'uefi', code: '/ovmf/code.fd', vars: '/storage/ephemeral-vars.fd' });
  expect(plan.vars).toEqual({ from: '/storage/uefi-vars.fd', to: '/storage/ephemeral-vars.fd' });
  expect(plan.replaces).toEqual(['/storage/ephemeral.qcow2', '/storage/ephemeral-vars.fd']);
  expect(plan.replaces).not.toContain(system.path);
  expect(plan.replaces).not.toContain('/storage/uefi-vars.fd');
});

it('has no vars copy under legacy BIOS', () => {
  const plan = planEphemeral('/s', [system], { mode: 'legacy' });
  expect(plan.vars).toBeUndefined();
  expect(plan.firmware).toEqual({ mode: 'legacy' });
  expect(plan.replaces).toEqual(['/s/ephemeral.qcow2']);
});
