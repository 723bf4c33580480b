/**
 * The argv builder against stored expected argv, one snapshot per scenario (test/unit/qemu/
 * __snapshots__): a change to the QEMU command line shows up as a reviewed diff.
 */
import { describe, expect, it } from 'vitest';
import { buildQemuArgs, escapeValue } from '../../../src/qemu/args.js';
import type { VmSpec } from '../../../src/qemu/vm-spec.js';

const base: VmSpec = {
  name: 'windock',
  accel: 'kvm',
  ramBytes: 4 * 2 ** 30,
  cpuCores: 2,
  firmware: { mode: 'legacy' },
  drives: [{ id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 }],
  network: { mode: 'none' },
  qmpSocket: '/run/windock/qmp.sock',
  vncSocket: '/run/windock/vnc.sock',
  tpmSocket: undefined,
  extraArgs: [],
};

const scenarios: Record<string, VmSpec> = {
  'legacy, KVM, virtio-scsi disk, no network': base,
  'TCG, virtio-blk raw disk': {
    ...base,
    accel: 'tcg',
    cpuCores: 1,
    ramBytes: 256 * 2 ** 20,
    drives: [{ id: 'system', path: '/storage/data.img', format: 'raw', media: 'disk', bus: 'blk', readOnly: false, bootIndex: 1 }],
  },
  'UEFI, ISO install: SATA cdrom first, disk second, tap network with vhost': {
    ...base,
    firmware: { mode: 'uefi', code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/storage/uefi-vars.fd' },
    drives: [
      { id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 2 },
      { id: 'install', path: '/storage/win11.iso', format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 1 },
    ],
    network: { mode: 'tap', ifname: 'windock-tap0', mac: '02:11:22:33:44:55', model: 'virtio-net-pci', vhost: true },
  },
  'secure boot with TPM, setup image on USB, user networking with forwards': {
    ...base,
    firmware: { mode: 'secure', code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars: '/storage/uefi-vars-secure.fd' },
    drives: [
      { id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'sata', readOnly: false, bootIndex: 2 },
      { id: 'install', path: '/storage/win11.iso', format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 1 },
      { id: 'setup', path: '/run/windock/setup.img', format: 'raw', media: 'removable', bus: 'sata', readOnly: true, bootIndex: undefined },
    ],
    network: {
      mode: 'user',
      mac: '02:11:22:33:44:55',
      model: 'e1000e',
      forwards: [
        { protocol: 'tcp', hostPort: 3389, guestPort: 3389 },
        { protocol: 'udp', hostPort: 3389, guestPort: 3389 },
      ],
    },
    tpmSocket: '/run/windock/swtpm.sock',
  },
  'Windows XP: i440FX, PIIX IDE disk and CD-ROM as bus masters, rtl8139, UHCI, no NX/long mode': {
    ...base,
    drives: [
      { id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'ide', readOnly: false, bootIndex: 2 },
      { id: 'install', path: '/storage/xp.iso', format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 1 },
    ],
    network: { mode: 'user', mac: '02:11:22:33:44:55', model: 'rtl8139', forwards: [] },
    guest: { machine: 'pc', usb: 'uhci', cpuFlags: ['nx=off', 'lm=off'], globals: [] },
  },
  'Windows 11 under KVM on an AMD host: local-time RTC, no HPET, VMX and arch_capabilities hidden, PIT ticks discarded': {
    ...base,
    guest: { machine: 'q35', usb: 'xhci', cpuFlags: [], globals: [], windows: true, amdHost: true },
  },
  'Windows 98: no USB at all, pcnet': {
    ...base,
    accel: 'tcg',
    drives: [{ id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'ide', readOnly: false, bootIndex: 1 }],
    network: { mode: 'user', mac: '02:11:22:33:44:55', model: 'pcnet', forwards: [] },
    guest: { machine: 'pc', usb: 'none', cpuFlags: ['nx=off', 'lm=off'], globals: [] },
  },
  'NVMe disk, passt network, ARGUMENTS appended last': {
    ...base,
    drives: [{ id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'nvme', readOnly: false, bootIndex: 1 }],
    network: { mode: 'passt', mac: '02:11:22:33:44:55', model: 'virtio-net-pci', socket: '/run/windock/passt.sock' },
    extraArgs: ['-device', 'virtio-gpu-pci'],
  },
  // Issue 13: every device setting at once, and extra disks (a managed image, a block device).
  'device settings: DISK_IO/CACHE, CPU_MODEL/FLAGS, VMX=N, HV=N, SMP, MTU, BALLOONING, USB passthrough, extra disks': {
    ...base,
    drives: [
      { id: 'system', path: '/storage/data.qcow2', format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 },
      { id: 'disk2', path: '/storage2/data2.qcow2', format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: undefined },
      { id: 'disk3', path: '/dev/disk3', format: 'raw', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: undefined, driver: 'host_device' },
    ],
    network: { mode: 'tap', ifname: 'windock-tap0', mac: '02:11:22:33:44:55', model: 'virtio-net-pci', vhost: true },
    devices: {
      machine: 'pc-q35-8.2',
      cpuModel: 'Skylake-Client-v4',
      cpuFlags: '+avx2,-hle',
      vmx: false,
      hv: false,
      smp: '4,sockets=1,cores=2,threads=2',
      disk: { aio: 'native', cache: 'none', discard: 'unmap', rotation: 7200, options: 'physical_block_size=4096' },
      mtu: 1400,
      balloon: true,
      usbController: 'nec-usb-xhci',
      usbHosts: [{ vendor: '0x046d', product: '0xc52b' }],
    },
  },
  'DISK_CACHE=writethrough, DISK_DISCARD=ignore, DISK_TYPE=usb under TCG': {
    ...base,
    accel: 'tcg',
    drives: [{ id: 'system', path: '/storage/data.img', format: 'raw', media: 'disk', bus: 'usb', readOnly: false, bootIndex: 1 }],
    devices: { disk: { aio: 'io_uring', cache: 'writethrough', discard: 'ignore' }, hv: true },
  },
};

describe('buildQemuArgs', () => {
  it.each(Object.entries(scenarios))('%s', (_name, spec) => {
    expect(buildQemuArgs(spec)).toMatchSnapshot();
  });

  it('never opens VNC or QMP on TCP', () => {
    for (const spec of Object.values(scenarios)) {
      const args = buildQemuArgs(spec);
      expect(args[args.indexOf('-vnc') + 1]).toMatch(/^unix:/);
      expect(args.find((a) => a.startsWith('socket,id=qmp'))).toMatch(/path=\/run\/windock\/qmp\.sock,server=on,wait=off$/);
      for (const chardev of args.filter((a, i) => args[i - 1] === '-chardev' || args[i - 1] === '-vnc')) {
        expect(chardev).not.toMatch(/host=|port=|telnet|tcp:/);
      }
    }
  });

  it('opens read-only media read-only and never discards on them', () => {
    const args = buildQemuArgs(scenarios['UEFI, ISO install: SATA cdrom first, disk second, tap network with vhost']!);
    const iso = args.filter((a) => a.includes('win11.iso') || a.startsWith('node-name=install,'));
    expect(iso.every((a) => a.includes('read-only=on') && !a.includes('discard'))).toBe(true);
  });

  it('escapes commas in paths so a path cannot inject options', () => {
    expect(escapeValue('/storage/a,b,read-only=off')).toBe('/storage/a,,b,,read-only=off');
    const args = buildQemuArgs({ ...base, drives: [{ ...base.drives[0]!, path: '/s/x,format=raw' }] });
    expect(args).toContain('node-name=system-file,driver=file,filename=/s/x,,format=raw,aio=threads,cache.direct=off,discard=unmap');
  });

  it('escapes a comma in every path that reaches QEMU\'s option syntax (STORAGE and RUN_DIR included)', () => {
    // Directories whose names try to add an option: escaped, each stays one value.
    const s = '/st,evil=1';
    const r = '/run,evil=1';
    const hostile: VmSpec = {
      ...base,
      firmware: { mode: 'secure', code: `${s}/code.fd`, vars: `${s}/vars.fd` },
      drives: [
        { id: 'system', path: `${s}/data.qcow2`, format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 },
        { id: 'setup', path: `${r}/setup.img`, format: 'raw', media: 'removable', bus: 'sata', readOnly: true, bootIndex: undefined },
      ],
      network: { mode: 'passt', socket: `${r}/passt.sock`, mac: '02:11:22:33:44:55', model: 'virtio-net-pci' },
      qmpSocket: `${r}/qmp.sock`,
      vncSocket: `${r}/vnc.sock`,
      tpmSocket: `${r}/swtpm.sock`,
    };
    const args = buildQemuArgs(hostile);
    const carrying = args.filter((a) => a.includes('evil=1'));
    // code, vars, two drives, passt, qmp, vnc, tpm
    expect(carrying, carrying.join('\n')).toHaveLength(8);
    const unescaped = carrying.filter((a) => /(^|[^,]),evil=1/.test(a.replaceAll(',,', '')));
    expect(unescaped, unescaped.join('\n')).toEqual([]);
  });

  it('offers a shared folder through slirp smb= and lets QEMU spawn smbd only then', () => {
    const user = { mode: 'user' as const, mac: '02:11:22:33:44:55', model: 'virtio-net-pci' as const, forwards: [] };
    const shared = buildQemuArgs({ ...base, network: { ...user, smb: '/shared,x' } });
    expect(shared[shared.indexOf('-netdev') + 1]).toBe('user,id=net0,smb=/shared,,x');
    expect(shared[shared.indexOf('-sandbox') + 1]).toContain('spawn=allow');
    const plain = buildQemuArgs({ ...base, network: user });
    expect(plain[plain.indexOf('-netdev') + 1]).toBe('user,id=net0');
    // A guest network moved off QEMU's default (network/slirp-net.ts) comes first, before the forwards.
    const moved = buildQemuArgs({ ...base, network: { ...user, net: '10.0.3.0/24', forwards: [{ protocol: 'tcp', hostPort: 3389, guestPort: 3389 }] } });
    expect(moved[moved.indexOf('-netdev') + 1]).toBe('user,id=net0,net=10.0.3.0/24,hostfwd=tcp::3389-:3389');
    expect(plain[plain.indexOf('-sandbox') + 1]).toContain('spawn=deny');
  });

  it('appends ARGUMENTS last so that users can override', () => {
    const args = buildQemuArgs(scenarios['NVMe disk, passt network, ARGUMENTS appended last']!);
    expect(args.slice(-2)).toEqual(['-device', 'virtio-gpu-pci']);
  });
});
