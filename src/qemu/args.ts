/**
 * The pure QEMU argv builder: VmSpec in, argv out. No defaults are taken from QEMU's
 * configuration (`-nodefaults -no-user-config`): every device the guest sees is listed here,
 * so the same spec always gives the same machine. References: QEMU's system/invocation docs,
 * docs/system/device-emulation, and the QMP spec for the monitor socket.
 */
import { isI440fx, machineArgs } from './machine-args.js';
import type { DeviceSettings, DiskTuning, DriveSpec, FirmwareSpec, GuestMachine, NetworkSpec, VmSpec } from './vm-spec.js';

const MiB = 2 ** 20;

/** Where a drive hangs: one virtio-scsi controller, virtio-blk, the q35 AHCI ports or PIIX IDE, NVMe, USB. */
type Controllers = { scsi: boolean; usb: GuestMachine['usb'] };

const MODERN: GuestMachine = { machine: 'q35', usb: 'xhci', cpuFlags: [], globals: [] };

export function buildQemuArgs(spec: VmSpec): string[] {
  const devices = spec.devices ?? {};
  const guest = spec.guest ?? MODERN;
  const controllers: Controllers = {
    scsi: spec.drives.some((d) => d.bus === 'scsi' && d.media !== 'cdrom' && d.media !== 'removable'),
    // The tablet is there whenever USB is: absolute pointer, so the browser cursor matches.
    usb: guest.usb,
  };
  const placement = drivePlacement(spec.drives, isI440fx(devices.machine ?? guest.machine));
  return [
    '-name', `${spec.name},debug-threads=on`,
    '-nodefaults',
    '-no-user-config',
    // QEMU's seccomp sandbox: a compromised QEMU may not exec, raise privileges or use obsolete
    // syscalls (docs: -sandbox). Helpers (tap scripts) are never needed: windock prepares them.
    // The one exception: `-netdev user,smb=` makes QEMU fork and exec smbd when the guest first
    // connects (slirp's guest exec), which spawn=deny would kill QEMU for.
    '-sandbox', `on,obsolete=deny,elevateprivileges=deny,spawn=${spec.network.mode === 'user' && spec.network.smb !== undefined ? 'allow' : 'deny'},resourcecontrol=deny`,
    ...machineArgs(spec, guest, devices),
    '-m', `${Math.floor(spec.ramBytes / MiB)}M`,
    // Windows reads the hardware clock as local time (qemus/qemu src/boot.sh).
    ...(guest.windows ? ['-rtc', 'base=localtime'] : []),
    ...guest.globals.flatMap((g) => ['-global', g]),
    ...firmwareArgs(spec.firmware),
    '-object', 'iothread,id=io0',
    ...controllerArgs(controllers, devices.usbController),
    ...spec.drives.flatMap((drive, index) => driveArgs(drive, placement[index] ?? [], devices.disk ?? {})),
    ...networkArgs(spec.network, devices.mtu),
    ...tpmArgs(spec.tpmSocket),
    // A hardware RNG lets the guest seed its entropy pool at once instead of waiting on jitter.
    '-object', 'rng-random,id=rng0,filename=/dev/urandom',
    '-device', 'virtio-rng-pci,rng=rng0',
    ...(guest.usb === 'none' ? [] : ['-device', 'usb-tablet,bus=xhci.0', ...usbHostArgs(devices)]),
    ...balloonArgs(devices),
    '-vga', 'std',
    // VNC only on a unix socket in the private RUN_DIR; the viewer bridges it to WebSockets.
    // force-shared: a second viewer never disconnects the first.
    '-display', 'none',
    '-vnc', `unix:${escapeValue(spec.vncSocket)},share=force-shared`,
    '-chardev', `socket,id=qmp,path=${escapeValue(spec.qmpSocket)},server=on,wait=off`,
    '-mon', 'chardev=qmp,mode=control',
    // The serial console goes to QEMU's stdout, which windock reads line by line into the log.
    '-chardev', 'stdio,id=serial0,signal=off',
    '-serial', 'chardev:serial0',
    ...spec.extraArgs,
  ];
}

/**
 * Each drive's slot on its controller. q35's AHCI has six ports (ide.0 … ide.5), one device each;
 * the i440FX PIIX IDE has two buses of two units, and the disk and the CD-ROM each get a bus
 * master first (ide.0 unit 0, ide.1 unit 0, then the slaves), the layout old Setup expects.
 */
function drivePlacement(drives: readonly DriveSpec[], i440fx: boolean): string[][] {
  let next = 0;
  return drives.map((d, index) => {
    if (!i440fx) return [`bus=ide.${index % 6}`];
    const onIde = d.media === 'cdrom' || d.bus === 'ide' || d.bus === 'sata';
    const slot = onIde ? next++ : 0;
    return [`bus=ide.${slot % 2}`, `unit=${Math.floor(slot / 2)}`];
  });
}

function firmwareArgs(firmware: FirmwareSpec): string[] {
  if (firmware.mode === 'legacy') return [];
  return [
    '-blockdev', `node-name=fw-code,driver=file,filename=${escapeValue(firmware.code)},read-only=on`,
    '-blockdev', `node-name=fw-vars,driver=file,filename=${escapeValue(firmware.vars)}`,
    ...(firmware.mode === 'secure' ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
  ];
}

function controllerArgs(controllers: Controllers, xhciModel = 'qemu-xhci'): string[] {
  // The USB controller keeps the id "xhci" whatever its model, so devices name one bus.
  const usb = { xhci: ['-device', `${xhciModel},id=xhci`], uhci: ['-device', 'piix3-usb-uhci,id=xhci'], none: [] }[controllers.usb];
  return [...(controllers.scsi ? ['-device', 'virtio-scsi-pci,id=scsi0,iothread=io0'] : []), ...usb];
}

/** USB passthrough by id (dockur documents `-device usb-host,vendorid=..,productid=..`); QEMU attaches it when it appears. */
function usbHostArgs(devices: DeviceSettings): string[] {
  return (devices.usbHosts ?? []).flatMap((id, i) => ['-device', `usb-host,bus=xhci.0,id=usbhost${i},vendorid=${id.vendor},productid=${id.product}`]);
}

/**
 * virtio-balloon with free page reporting (QEMU docs/interop/virtio-balloon, Linux
 * mm/page_reporting.c): the guest reports pages it freed and QEMU discards them, so an idle
 * guest's memory goes back to the host without any controller inflating the balloon.
 * deflate-on-oom lets a guest under pressure take inflated pages back.
 */
function balloonArgs(devices: DeviceSettings): string[] {
  if (!devices.balloon) return [];
  return ['-device', 'virtio-balloon-pci,id=balloon0,free-page-reporting=on,deflate-on-oom=on'];
}

/**
 * One drive: a `file` node and a format node (`-blockdev`), then the guest-visible device.
 * Default cache.direct=off with aio=threads: works on every filesystem (O_DIRECT fails on tmpfs)
 * and inside Docker's default seccomp profile (which refuses io_uring); guest flushes still reach
 * the disk, so a power cut loses nothing the guest was told was written. DISK_IO / DISK_CACHE
 * change that for writable disks; cache modes as in QEMU's docs/system/qemu-block-drivers
 * ("cache.direct", "cache.no-flush" and the device's write-cache).
 */
function driveArgs(drive: DriveSpec, slot: string[], tuning: DiskTuning): string[] {
  const readOnly = drive.readOnly || drive.media === 'cdrom';
  const cache = readOnly ? 'writeback' : (tuning.cache ?? 'writeback');
  const direct = cache === 'none' || cache === 'directsync';
  const file = [`node-name=${drive.id}-file`, `driver=${drive.driver ?? 'file'}`, `filename=${escapeValue(drive.path)}`, `aio=${readOnly ? 'threads' : (tuning.aio ?? 'threads')}`, `cache.direct=${direct ? 'on' : 'off'}`];
  const format = [`node-name=${drive.id}`, `driver=${drive.format}`, `file=${drive.id}-file`];
  if (cache === 'unsafe') file.push('cache.no-flush=on');
  if (readOnly) {
    file.push('read-only=on');
    format.push('read-only=on');
  } else if (tuning.discard === 'ignore') {
    format.push('detect-zeroes=on');
  } else {
    // Guest TRIM frees host space; zero writes become holes (sparse images stay sparse).
    file.push('discard=unmap');
    format.push('discard=unmap', 'detect-zeroes=unmap');
  }
  const extra = [
    ...(drive.bootIndex === undefined ? [] : [`bootindex=${drive.bootIndex}`]),
    ...(!readOnly && (cache === 'writethrough' || cache === 'directsync') ? ['write-cache=off'] : []),
    ...(!readOnly && drive.media === 'disk' && tuning.options ? [tuning.options] : []),
  ];
  return ['-blockdev', file.join(','), '-blockdev', format.join(','), '-device', deviceFor(drive, slot, extra, tuning.rotation ?? 1).join(',')];
}

/** `slot`: the drive's place on the AHCI or PIIX IDE controller (drivePlacement). */
function deviceFor(drive: DriveSpec, slot: string[], extra: string[], rotation: number): string[] {
  if (drive.media === 'removable') return ['usb-storage', `drive=${drive.id}`, 'bus=xhci.0', 'removable=on', ...extra];
  // Optical media go on the q35 AHCI controller: every installer (Windows PE included) reads SATA
  // without extra drivers.
  if (drive.media === 'cdrom') return ['ide-cd', `drive=${drive.id}`, ...slot, ...extra];
  switch (drive.bus) {
    case 'scsi':
      return ['scsi-hd', `drive=${drive.id}`, 'bus=scsi0.0', `serial=${drive.id}`, `rotation_rate=${rotation}`, ...extra];
    case 'blk':
      return ['virtio-blk-pci', `drive=${drive.id}`, 'iothread=io0', `serial=${drive.id}`, ...extra];
    case 'sata':
    case 'ide':
      return ['ide-hd', `drive=${drive.id}`, ...slot, `rotation_rate=${rotation}`, ...extra];
    case 'nvme':
      return ['nvme', `drive=${drive.id}`, `serial=${drive.id}`, ...extra];
    case 'usb':
      return ['usb-storage', `drive=${drive.id}`, 'bus=xhci.0', `serial=${drive.id}`, ...extra];
  }
}

function networkArgs(network: NetworkSpec, mtu: number | undefined): string[] {
  switch (network.mode) {
    case 'none':
      return [];
    case 'tap': {
      const backend = network.fd === undefined ? [`ifname=${network.ifname}`, 'script=no', 'downscript=no'] : [`fd=${network.fd}`];
      return ['-netdev', ['tap', 'id=net0', ...backend, `vhost=${network.vhost ? 'on' : 'off'}`].join(','), '-device', nic(network.model, network.mac, mtu)];
    }
    case 'user': {
      const forwards = network.forwards.map((f) => `hostfwd=${f.protocol}::${f.hostPort}-:${f.guestPort}`);
      const smb = network.smb === undefined ? [] : [`smb=${escapeValue(network.smb)}`];
      const net = network.net === undefined ? [] : [`net=${network.net}`];
      return ['-netdev', ['user', 'id=net0', ...net, ...forwards, ...smb].join(','), '-device', nic(network.model, network.mac, mtu)];
    }
    case 'passt':
      return ['-netdev', `stream,id=net0,server=off,addr.type=unix,addr.path=${escapeValue(network.socket)}`, '-device', nic(network.model, network.mac, mtu)];
  }
}

function nic(model: string, mac: string, mtu: number | undefined): string {
  // host_mtu is virtio-net's way of telling the guest its MTU (VIRTIO_NET_F_MTU); other models have none.
  const hostMtu = mtu !== undefined && model === 'virtio-net-pci' ? `,host_mtu=${mtu}` : '';
  return `${model},netdev=net0,mac=${mac}${hostMtu}`;
}

function tpmArgs(socket: string | undefined): string[] {
  if (socket === undefined) return [];
  // TPM 2.0 through swtpm (docs/specs/tpm.rst); tpm-crb is the interface Windows 11 expects on q35.
  return ['-chardev', `socket,id=chrtpm,path=${escapeValue(socket)}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-crb,tpmdev=tpm0'];
}

/** QEMU's option syntax splits on commas; a literal comma in a value is written twice. */
export function escapeValue(value: string): string {
  return value.replaceAll(',', ',,');
}
