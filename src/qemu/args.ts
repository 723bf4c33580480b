/**
 * The pure QEMU argv builder: VmSpec in, argv out. No defaults are taken from QEMU's
 * configuration (`-nodefaults -no-user-config`): every device the guest sees is listed here,
 * so the same spec always gives the same machine. References: QEMU's system/invocation docs,
 * docs/system/device-emulation, and the QMP spec for the monitor socket.
 */
import type { DriveSpec, FirmwareSpec, GuestMachine, NetworkSpec, VmSpec } from './vm-spec.js';

const MiB = 2 ** 20;

/** Where a drive hangs: one virtio-scsi controller, virtio-blk, the q35 AHCI ports or PIIX IDE, NVMe, USB. */
type Controllers = { scsi: boolean; usb: GuestMachine['usb'] };

const MODERN: GuestMachine = { machine: 'q35', usb: 'xhci', cpuFlags: [], globals: [] };

export function buildQemuArgs(spec: VmSpec): string[] {
  const guest = spec.guest ?? MODERN;
  const controllers: Controllers = {
    scsi: spec.drives.some((d) => d.bus === 'scsi' && d.media !== 'cdrom' && d.media !== 'removable'),
    // The tablet is there whenever USB is: absolute pointer, so the browser cursor matches.
    usb: guest.usb,
  };
  const placement = drivePlacement(spec.drives, guest.machine);
  return [
    '-name', `${spec.name},debug-threads=on`,
    '-nodefaults',
    '-no-user-config',
    // QEMU's seccomp sandbox: a compromised QEMU may not exec, raise privileges or use obsolete
    // syscalls (docs: -sandbox). Helpers (tap scripts) are never needed: windock prepares them.
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    ...machineArgs(spec, guest),
    '-m', `${Math.floor(spec.ramBytes / MiB)}M`,
    '-smp', `${spec.cpuCores},sockets=1,cores=${spec.cpuCores},threads=1`,
    // Windows sleeps into S3/S4 states a VM cannot resume from well; the ICH9 LPC (q35) or the
    // PIIX4 power management (i440FX) hides them.
    ...sleepStates(guest.machine),
    // Windows reads the hardware clock as local time (qemus/qemu src/boot.sh).
    ...(guest.windows ? ['-rtc', 'base=localtime'] : []),
    ...guest.globals.flatMap((g) => ['-global', g]),
    ...firmwareArgs(spec.firmware),
    '-object', 'iothread,id=io0',
    ...controllerArgs(controllers),
    ...spec.drives.flatMap((drive, index) => driveArgs(drive, placement[index] ?? [])),
    ...networkArgs(spec.network),
    ...tpmArgs(spec.tpmSocket),
    // A hardware RNG lets the guest seed its entropy pool at once instead of waiting on jitter.
    '-object', 'rng-random,id=rng0,filename=/dev/urandom',
    '-device', 'virtio-rng-pci,rng=rng0',
    ...(guest.usb === 'none' ? [] : ['-device', 'usb-tablet,bus=xhci.0']),
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

function sleepStates(machine: GuestMachine['machine']): string[] {
  const device = machine === 'pc' ? 'PIIX4_PM' : 'ICH9-LPC';
  return ['-global', `${device}.disable_s3=1`, '-global', `${device}.disable_s4=1`];
}

/**
 * Each drive's slot on its controller. q35's AHCI has six ports (ide.0 … ide.5), one device each;
 * the i440FX PIIX IDE has two buses of two units, and the disk and the CD-ROM each get a bus
 * master first (ide.0 unit 0, ide.1 unit 0, then the slaves), the layout old Setup expects.
 */
function drivePlacement(drives: readonly DriveSpec[], machine: GuestMachine['machine']): string[][] {
  let next = 0;
  return drives.map((d, index) => {
    if (machine !== 'pc') return [`bus=ide.${index % 6}`];
    const onIde = d.media === 'cdrom' || d.bus === 'ide' || d.bus === 'sata';
    const slot = onIde ? next++ : 0;
    return [`bus=ide.${slot % 2}`, `unit=${Math.floor(slot / 2)}`];
  });
}

function machineArgs(spec: VmSpec, guest: GuestMachine): string[] {
  const machine = [guest.machine, 'vmport=off'];
  // Windows keeps time better on the ACPI PM timer and the TSC than on an emulated HPET, whose
  // interrupts cost more than they give (qemus/qemu src/config.sh HPET=off).
  if (guest.windows) machine.push('hpet=off');
  if (spec.firmware.mode !== 'legacy') machine.push('pflash0=fw-code', 'pflash1=fw-vars');
  // Secure boot firmware keeps its variable store in SMM so the OS cannot tamper with it.
  if (spec.firmware.mode === 'secure') machine.push('smm=on');
  const args = ['-machine', machine.join(',')];
  if (spec.accel === 'kvm') {
    // Hyper-V enlightenments make Windows guests markedly faster and steadier under KVM
    // (docs/system/i386/hyperv.rst); other guests ignore them.
    // Windows before Vista does not know the enlightenments; dockur runs them without (hv=N).
    const hv = guest.machine === 'pc' ? [] : ['hv_relaxed', 'hv_vapic', 'hv_spinlocks=0x1fff', 'hv_vpindex', 'hv_runtime', 'hv_time', 'hv_synic', 'hv_stimer', 'hv_frequencies', 'hv_tlbflush', 'hv_ipi'];
    // For Windows (qemus/qemu src/proc.sh): nested VT-x hidden (a Windows update crashes with it),
    // arch_capabilities hidden on AMD hosts (Windows stops on the MSR KVM reports there), and PIT
    // ticks missed while the vCPU was descheduled dropped rather than replayed in a burst.
    const windows = guest.windows ? ['-vmx', ...(guest.amdHost ? ['arch_capabilities=off'] : [])] : [];
    args.push('-accel', 'kvm', '-cpu', ['host', 'migratable=off', ...hv, ...windows, ...guest.cpuFlags].join(','));
    if (guest.windows) args.push('-global', 'kvm-pit.lost_tick_policy=discard');
  } else {
    args.push('-accel', 'tcg', '-cpu', ['max', ...guest.cpuFlags].join(','));
  }
  return args;
}

function firmwareArgs(firmware: FirmwareSpec): string[] {
  if (firmware.mode === 'legacy') return [];
  return [
    '-blockdev', `node-name=fw-code,driver=file,filename=${escapeValue(firmware.code)},read-only=on`,
    '-blockdev', `node-name=fw-vars,driver=file,filename=${escapeValue(firmware.vars)}`,
    ...(firmware.mode === 'secure' ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
  ];
}

function controllerArgs(controllers: Controllers): string[] {
  // The USB controller keeps the id "xhci" whatever its model, so devices name one bus.
  const usb = { xhci: ['-device', 'qemu-xhci,id=xhci'], uhci: ['-device', 'piix3-usb-uhci,id=xhci'], none: [] }[controllers.usb];
  return [...(controllers.scsi ? ['-device', 'virtio-scsi-pci,id=scsi0,iothread=io0'] : []), ...usb];
}

/**
 * One drive: a `file` node and a format node (`-blockdev`), then the guest-visible device.
 * cache.direct=off with aio=threads: works on every filesystem (O_DIRECT fails on tmpfs) and
 * inside Docker's default seccomp profile (which refuses io_uring); guest flushes still reach
 * the disk, so a power cut loses nothing the guest was told was written.
 */
function driveArgs(drive: DriveSpec, ide: string[]): string[] {
  const readOnly = drive.readOnly || drive.media === 'cdrom';
  const file = [`node-name=${drive.id}-file`, 'driver=file', `filename=${escapeValue(drive.path)}`, 'aio=threads', 'cache.direct=off'];
  const format = [`node-name=${drive.id}`, `driver=${drive.format}`, `file=${drive.id}-file`];
  if (readOnly) {
    file.push('read-only=on');
    format.push('read-only=on');
  } else {
    // Guest TRIM frees host space; zero writes become holes (sparse images stay sparse).
    file.push('discard=unmap');
    format.push('discard=unmap', 'detect-zeroes=unmap');
  }
  const boot = drive.bootIndex === undefined ? [] : [`bootindex=${drive.bootIndex}`];
  return ['-blockdev', file.join(','), '-blockdev', format.join(','), '-device', deviceFor(drive, ide, boot).join(',')];
}

function deviceFor(drive: DriveSpec, ide: string[], boot: string[]): string[] {
  if (drive.media === 'removable') return ['usb-storage', `drive=${drive.id}`, 'bus=xhci.0', 'removable=on', ...boot];
  // Optical media go on the q35 AHCI controller: every installer (Windows PE included) reads SATA
  // without extra drivers.
  if (drive.media === 'cdrom') return ['ide-cd', `drive=${drive.id}`, ...ide, ...boot];
  switch (drive.bus) {
    case 'scsi':
      return ['scsi-hd', `drive=${drive.id}`, 'bus=scsi0.0', `serial=${drive.id}`, 'rotation_rate=1', ...boot];
    case 'blk':
      return ['virtio-blk-pci', `drive=${drive.id}`, 'iothread=io0', `serial=${drive.id}`, ...boot];
    case 'sata':
    case 'ide':
      return ['ide-hd', `drive=${drive.id}`, ...ide, 'rotation_rate=1', ...boot];
    case 'nvme':
      return ['nvme', `drive=${drive.id}`, `serial=${drive.id}`, ...boot];
  }
}

function networkArgs(network: NetworkSpec): string[] {
  switch (network.mode) {
    case 'none':
      return [];
    case 'tap': {
      const backend = network.fd === undefined ? [`ifname=${network.ifname}`, 'script=no', 'downscript=no'] : [`fd=${network.fd}`];
      return ['-netdev', ['tap', 'id=net0', ...backend, `vhost=${network.vhost ? 'on' : 'off'}`].join(','), '-device', nic(network.model, network.mac)];
    }
    case 'user': {
      const forwards = network.forwards.map((f) => `hostfwd=${f.protocol}::${f.hostPort}-:${f.guestPort}`);
      return ['-netdev', ['user', 'id=net0', ...forwards].join(','), '-device', nic(network.model, network.mac)];
    }
    case 'passt':
      return ['-netdev', `stream,id=net0,server=off,addr.type=unix,addr.path=${escapeValue(network.socket)}`, '-device', nic(network.model, network.mac)];
  }
}

function nic(model: string, mac: string): string {
  return `${model},netdev=net0,mac=${mac}`;
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
