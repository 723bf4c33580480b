/**
 * Everything the pure QEMU argv builder needs, as data. Each subsystem fills its part: the
 * storage plan the drives and firmware, the network plan the NIC, the Windows layer the TPM and
 * setup media. `buildQemuArgs(spec)` turns it into argv; nothing here touches the system.
 */
/** `ide`: the PIIX IDE of the i440FX machine (Windows before Vista has no AHCI driver). */
export type DiskBus = 'scsi' | 'blk' | 'sata' | 'nvme' | 'usb' | 'ide';
export type ImageFormat = 'qcow2' | 'raw' | 'vmdk' | 'vpc' | 'vhdx';

export interface DriveSpec {
  /** Stable QEMU id, e.g. "system", "install", "setup". */
  id: string;
  path: string;
  format: ImageFormat;
  /** `disk`: a hard disk; `cdrom`: read-only optical media (ISO); `removable`: a USB stick. */
  media: 'disk' | 'cdrom' | 'removable';
  bus: DiskBus;
  readOnly: boolean;
  /** Lower boots first; undefined = not in the boot order. */
  bootIndex: number | undefined;
  /** QEMU's protocol driver: `file` (default) for image files, `host_device` for a block device. */
  driver?: 'file' | 'host_device';
}

export type FirmwareSpec =
  | { mode: 'legacy' }
  | {
      mode: 'uefi' | 'secure';
      /** Read-only OVMF code image. */
      code: string;
      /** This VM's own, writable copy of the variable store (kept in STORAGE). */
      vars: string;
    };

/** e1000 (Vista, 7), rtl8139 (2000, XP, 2003) and pcnet (9x): NICs old Windows has inbox drivers for. */
export const NIC_MODELS = ['virtio-net-pci', 'e1000e', 'e1000', 'rtl8139', 'pcnet'] as const;
/** windock chooses one of NIC_MODELS; ADAPTER may name any QEMU NIC model. */
export type NicModel = string;

export type NetworkSpec =
  | { mode: 'none' }
  | { mode: 'tap'; ifname: string; mac: string; model: NicModel; vhost: boolean; /** fd of a tap opened by windock */ fd?: number }
  | {
      mode: 'user';
      mac: string;
      model: NicModel;
      /** Host (container) port → guest port forwards of QEMU's built-in user networking. */
      forwards: { protocol: 'tcp' | 'udp'; hostPort: number; guestPort: number }[];
      /** A directory QEMU's own SMB server offers at \\<net>.4\qemu (`smb=`; QEMU runs smbd). */
      smb?: string | undefined;
      /** The guest network (`net=`, network/slirp-net.ts); unset: QEMU's 10.0.2.0/24. */
      net?: string;
    }
  | { mode: 'passt'; mac: string; model: NicModel; socket: string };

export interface VmSpec {
  name: string;
  accel: 'kvm' | 'tcg';
  ramBytes: number;
  cpuCores: number;
  firmware: FirmwareSpec;
  drives: DriveSpec[];
  network: NetworkSpec;
  /** Unix sockets in RUN_DIR (never TCP). */
  qmpSocket: string;
  vncSocket: string;
  /** Path of the swtpm control socket, when the VM has a TPM. */
  tpmSocket: string | undefined;
  /** What an old guest needs of the machine (catalog rows before Windows 8); undefined: q35 with xHCI. */
  guest?: GuestMachine | undefined;
  /** Extra argv from ARGUMENTS, appended last so that users can override. */
  extraArgs: string[];
  /** The device settings (DISK_IO, CPU_MODEL, ...); each field unset keeps windock's choice. */
  devices?: DeviceSettings;
}

/** How writable disks are opened (DISK_IO, DISK_CACHE, DISK_DISCARD, DISK_ROTATION, DISK_OPTIONS). */
export interface DiskTuning {
  aio?: 'threads' | 'native' | 'io_uring';
  cache?: 'writeback' | 'none' | 'writethrough' | 'directsync' | 'unsafe';
  discard?: 'unmap' | 'ignore';
  rotation?: number;
  /** Appended to every disk device, `key=value,...`. */
  options?: string;
}

export interface DeviceSettings {
  /** q35 or a versioned pc-q35-X.Y. */
  machine?: string;
  cpuModel?: string;
  cpuFlags?: string;
  /** false hides VMX (`-vmx`); true or unset keeps the model's. */
  vmx?: boolean;
  /** Hyper-V enlightenments under KVM; unset = on. */
  hv?: boolean;
  /** A full -smp value (SMP); unset = cpuCores in one socket. */
  smp?: string;
  disk?: DiskTuning;
  /** virtio-net host_mtu. */
  mtu?: number;
  balloon?: boolean;
  usbController?: string;
  usbHosts?: { vendor: string; product: string }[];
}

export interface GuestMachine {
  /** q35, or i440FX ("pc") whose PIIX IDE pre-Vista Windows can drive. */
  machine: 'q35' | 'pc';
  /** xhci, uhci (USB 1.1, every Windows since 98), none. */
  usb: 'xhci' | 'uhci' | 'none';
  /** CPU features taken away, e.g. "nx=off". */
  cpuFlags: readonly string[];
  /** Extra `-global` settings. */
  globals: readonly string[];
  /** A Windows guest: the flags qemus/qemu learned it needs (local-time RTC, no HPET, VMX hidden ...). */
  windows?: boolean;
  /** The host CPU is AMD (AMD-V): Windows needs arch_capabilities hidden there. */
  amdHost?: boolean;
}
