/**
 * Everything the pure QEMU argv builder needs, as data. Each subsystem fills its part: the
 * storage plan the drives and firmware, the network plan the NIC, the Windows layer the TPM and
 * setup media. `buildQemuArgs(spec)` turns it into argv; nothing here touches the system.
 */
export type DiskBus = 'scsi' | 'blk' | 'sata' | 'nvme';
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

export type NicModel = 'virtio-net-pci' | 'e1000e';

export type NetworkSpec =
  | { mode: 'none' }
  | { mode: 'tap'; ifname: string; mac: string; model: NicModel; vhost: boolean; /** fd of a tap opened by windock */ fd?: number }
  | {
      mode: 'user';
      mac: string;
      model: NicModel;
      /** Host (container) port → guest port forwards of QEMU's built-in user networking. */
      forwards: { protocol: 'tcp' | 'udp'; hostPort: number; guestPort: number }[];
      /** A directory QEMU's own SMB server offers at \\10.0.2.4\qemu (`smb=`; QEMU runs smbd). */
      smb?: string | undefined;
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
  /** Extra argv from ARGUMENTS, appended last so that users can override. */
  extraArgs: string[];
}
