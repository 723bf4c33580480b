/**
 * The device settings as the real argv builder writes them, started in a real QEMU (paused,
 * `-S`, TCG): QEMU accepts every option, and QMP shows what the guest would see — the CPU
 * layout (SMP), the balloon with free page reporting, the USB controller with an emulated USB
 * keyboard attached (`info usb`, the way a passed-through device appears) and the usb-host
 * passthrough device with its ids, each disk with its cache mode and the NIC's MTU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { resolveSettings } from '../../src/config/resolve.js';
import { buildQemuArgs } from '../../src/qemu/args.js';
import { deviceSettings } from '../../src/qemu/device-settings.js';
import type { VmSpec } from '../../src/qemu/vm-spec.js';
import { QmpClient } from '../../src/qmp/client.js';
import { killChild } from '../fixtures/child.js';

let dir: string;
let qemu: ChildProcess | undefined;
let qmp: QmpClient | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-devices-'));
});
afterEach(async () => {
  qmp?.close();
  await killChild(qemu);
  qemu = undefined;
  await rm(dir, { recursive: true, force: true });
});

it('QEMU takes every device setting, and QMP shows each one', async () => {
  // From the environment, as a compose file would give them.
  const { config } = resolveSettings(
    {
      KVM: 'N', RAM_SIZE: '256M', SMP: '4,sockets=1,cores=2,threads=2', CPU_FLAGS: '-hle', VMX: 'N', MACHINE: 'q35',
      DISK_CACHE: 'writethrough', DISK_IO: 'threads', DISK_DISCARD: 'N', DISK_ROTATION: '7200', MTU: '1400',
      BALLOONING: 'Y', USB: 'nec-usb-xhci', USB_PASSTHROUGH: '046d:c52b',
    },
    {},
    { host: { cpus: 8, memoryBytes: 8 * 2 ** 30 } },
  );
  const system = join(dir, 'data.qcow2');
  const second = join(dir, 'data2.img');
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', system, '64M']);
  await execa('qemu-img', ['create', '-q', '-f', 'raw', second, '32M']);
  const spec: VmSpec = {
    name: 'devices', accel: 'tcg', ramBytes: config.ramSize, cpuCores: config.cpuCores, firmware: { mode: 'legacy' },
    drives: [
      { id: 'system', path: system, format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 },
      { id: 'disk2', path: second, format: 'raw', media: 'disk', bus: 'sata', readOnly: false, bootIndex: undefined },
    ],
    network: { mode: 'user', mac: '02:11:22:33:44:55', model: 'virtio-net-pci', forwards: [] },
    qmpSocket: join(dir, 'qmp.sock'), vncSocket: join(dir, 'vnc.sock'), tpmSocket: undefined,
    // An emulated USB device on windock's controller: what a passed-through one looks like to the guest.
    extraArgs: ['-device', 'usb-kbd,bus=xhci.0,id=kbd0', '-S'],
    devices: deviceSettings(config),
  };
  let stderr = '';
  qemu = spawn('qemu-system-x86_64', buildQemuArgs(spec), { stdio: ['ignore', 'ignore', 'pipe'] });
  qemu.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  qmp = await QmpClient.connect(spec.qmpSocket, { timeoutMs: 30_000 }).catch((error: Error) => {
    throw new Error(`${error.message}; QEMU stderr: ${stderr}`);
  });
  const ask = <T>(command: string, args?: Record<string, unknown>) => qmp!.execute<T>(command, args, { timeoutMs: 10_000 });
  const hmp = (line: string) => ask<string>('human-monitor-command', { 'command-line': line });

  const cpus = await ask<{ props: { 'core-id': number; 'thread-id': number } }[]>('query-cpus-fast');
  expect(cpus.map((c) => `${c.props['core-id']}.${c.props['thread-id']}`)).toEqual(['0.0', '0.1', '1.0', '1.1']);

  expect(await ask('query-balloon')).toEqual({ actual: 256 * 2 ** 20 });
  expect(await ask('qom-get', { path: '/machine/peripheral/balloon0', property: 'free-page-reporting' })).toBe(true);

  const usb = await hmp('info usb');
  expect(usb, usb).toMatch(/Product QEMU USB Tablet/);
  expect(usb, usb).toMatch(/Product QEMU USB Keyboard/);
  expect(await ask('qom-get', { path: '/machine/peripheral/usbhost0', property: 'vendorid' })).toBe(0x046d);
  expect(await ask('qom-get', { path: '/machine/peripheral/usbhost0', property: 'productid' })).toBe(0xc52b);
  const controller = await hmp('info qtree');
  expect(controller).toMatch(/dev: nec-usb-xhci, id "xhci"/);
  expect(controller).toMatch(/host_mtu = 1400/);
  expect(controller).toMatch(/rotation_rate = 7200/);

  const nodes = await ask<{ 'node-name': string; cache: { writeback: boolean; direct: boolean; 'no-flush': boolean } }[]>('query-named-block-nodes');
  const caches = Object.fromEntries(nodes.map((n) => [n['node-name'], n.cache]));
  // writethrough: the host page cache (not O_DIRECT), flushes honoured, and the devices offer the
  // guest no write-back cache (with -blockdev that is the device's write-cache, not the node's).
  expect(caches, JSON.stringify(caches)).toMatchObject({
    system: { direct: false, 'no-flush': false },
    disk2: { direct: false, 'no-flush': false },
  });
  expect(controller.match(/write-cache = "off"/g)?.length, controller).toBe(2);
});
