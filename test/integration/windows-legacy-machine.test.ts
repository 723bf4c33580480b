/**
 * The machine each old Windows gets, as the catalog and the real argv builder describe it, started
 * in a real QEMU (paused, `-S`, TCG): QMP `query-pci` shows the chipset, NIC and USB controller
 * the guest would find, `query-block` the disk and CD-ROM on PIIX IDE. A CPU flag or device QEMU
 * refuses would stop QEMU before its QMP socket appears.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildQemuArgs } from '../../src/qemu/args.js';
import type { VmSpec } from '../../src/qemu/vm-spec.js';
import { windowsProfile } from '../../src/windows/windows-stage.js';
import { killChild } from '../fixtures/child.js';
import { qmpAsk } from '../fixtures/qmp-ask.js';

let dir: string;
let qemu: ChildProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-legacy-'));
});
afterEach(async () => {
  await killChild(qemu);
  qemu = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** PCI vendor:device ids (pci.ids): what the guest's Plug and Play matches its inbox drivers on. */
const PCI = {
  i440fx: '8086:1237',
  q35: '8086:29c0',
  piix3Ide: '8086:7010',
  uhci: '8086:7020',
  xhci: '1b36:000d',
  rtl8139: '10ec:8139',
  pcnet: '1022:2000',
  e1000: '8086:100e',
  e1000e: '8086:10d3',
} as const;

type PciDevice = { id: { vendor: number; device: number } };
const hex = (n: number) => n.toString(16).padStart(4, '0');

describe.each([
  ['xp', ['i440fx', 'piix3Ide', 'rtl8139', 'uhci'], ['xhci', 'e1000e']],
  ['2k', ['i440fx', 'piix3Ide', 'rtl8139', 'uhci'], ['xhci']],
  ['98', ['i440fx', 'piix3Ide', 'pcnet'], ['uhci', 'xhci']],
  ['7ux86', ['q35', 'e1000', 'uhci'], ['xhci', 'e1000e']],
  ['10', ['q35', 'e1000e', 'xhci'], ['uhci']],
] as const)('VERSION=%s', (version, present, absent) => {
  it(`boots a machine with ${present.join(', ')} and without ${absent.join(', ')}`, async () => {
    const profile = windowsProfile({ boot: undefined, version }, false);
    if (!profile) throw new Error(`no profile for ${version}`);
    await mkdir(join(dir, 'run'));
    const system = join(dir, 'data.qcow2');
    await execa('qemu-img', ['create', '-f', 'qcow2', system, '1G']);
    const iso = join(dir, 'install.iso');
    await writeFile(iso, Buffer.alloc(2 * 2 ** 20));
    const spec: VmSpec = {
      name: 'windock', accel: 'tcg', ramBytes: 256 * 2 ** 20, cpuCores: 1,
      firmware: { mode: 'legacy' },
      drives: [
        { id: 'system', path: system, format: 'qcow2', media: 'disk', bus: profile.disk, readOnly: false, bootIndex: 2 },
        { id: 'install', path: iso, format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 1 },
      ],
      network: { mode: 'user', mac: '02:11:22:33:44:55', model: profile.nic, forwards: [] },
      qmpSocket: join(dir, 'run', 'qmp.sock'), vncSocket: join(dir, 'run', 'vnc.sock'),
      tpmSocket: undefined, guest: profile.guest, extraArgs: ['-S'],
    };
    const args = buildQemuArgs(spec);
    qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr?.on('data', (d) => (stderr += String(d)));
    for (const deadline = Date.now() + 30_000; !(await readdir(join(dir, 'run'))).includes('qmp.sock'); await sleep(50)) {
      if (qemu.exitCode !== null || Date.now() > deadline) throw new Error(`QEMU did not start with ${args.join(' ')}: ${stderr}`);
    }
    const [pci, blocks] = (await qmpAsk(spec.qmpSocket, ['query-pci', 'query-block'])) as [
      { devices: PciDevice[] }[],
      { qdev?: string; inserted?: { file: string } }[],
    ];
    const ids = pci.flatMap((bus) => bus.devices).map((d) => `${hex(d.id.vendor)}:${hex(d.id.device)}`);
    const seen = Object.fromEntries(Object.entries(PCI).map(([name, id]) => [name, ids.includes(id)]));
    expect(seen, `PCI ids: ${ids.join(' ')}`).toMatchObject({
      ...Object.fromEntries(present.map((n) => [n, true])),
      ...Object.fromEntries(absent.map((n) => [n, false])),
    });
    expect(blocks.map((b) => b.inserted?.file).filter(Boolean).sort()).toEqual([system, iso].sort());
    expect(stderr, 'QEMU warnings').not.toMatch(/warning|error/i);
  });
});
