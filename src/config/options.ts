/**
 * The option table: one row per setting (house rule 3). Each row names its environment variable,
 * its `--kebab-case` flag, its default, its parser and its documentation; the `Option` type makes
 * a row without any of them a compile error. `Config` is derived from this table, so a setting
 * exists in exactly one place.
 */
import {
  diskSizeParser,
  parseBootMode,
  parseCpuCores,
  parseDiscard,
  parseDiskCache,
  parseDiskIo,
  parseDiskType,
  parseMachine,
  parseNetwork,
  parseSmp,
  parseUsbController,
  parseUsbIds,
  qemuWordParser,
  ramSizeParser,
  type SmpLayout,
  type UsbId,
} from './dockur-values.js';
import {
  enumParser,
  intParser,
  parseBool,
  parseMac,
  parsePort,
  parsePortList,
  parseSha256,
  parseText,
  parseWebToken,
  parseWords,
  sizeParser,
  type Parser,
  type PortRule,
} from './parsers.js';

export interface Option<T> {
  env: string;
  flag: string;
  /** The default value, or `undefined` for "not set" (then `defaultText` explains what happens). */
  default: T | undefined;
  defaultText: string;
  parse: Parser<T>;
  doc: string;
  group: 'VM' | 'Storage' | 'Network' | 'Web' | 'Windows' | 'Supervisor';
  /** Secrets are redacted from `windock config`, `/health` and logs. */
  secret?: boolean;
  /** dockur's name for this setting where windock's differs; read when windock's is unset. */
  dockur?: string;
}

// Overloads keep each row's "has a default or not" in its type, which `Config` reads below.
function option<T>(row: Option<T> & { default: T }): Option<T> & { default: T };
function option<T>(row: Option<T> & { default: undefined }): Option<T> & { default: undefined };
function option<T>(row: Option<T>): Option<T> {
  return row;
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;

export const BOOT_MODES = ['uefi', 'secure', 'legacy'] as const;
export const NETWORK_MODES = ['tap', 'user', 'none'] as const;
export const DISK_FORMATS = ['qcow2', 'raw'] as const;
/** `ide` is the PIIX IDE of old Windows' i440FX machine, chosen by the catalog (DISK_TYPE=ide reads as AHCI, parseDiskType). */
export const DISK_BUSES = ['scsi', 'blk', 'sata', 'nvme', 'usb', 'ide'] as const;
export const DISK_IO_MODES = ['threads', 'native', 'io_uring'] as const;
export const DISK_CACHE_MODES = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;

export const OPTIONS = {
  version: option<string>({
    env: 'VERSION', flag: 'windows-version', default: '11', defaultText: '11', parse: parseText, group: 'VM',
    doc: 'Windows version key (11, 10, 2022, ...) or the URL of an ISO',
  }),
  boot: option<string>({
    env: 'BOOT', flag: 'boot', default: undefined, defaultText: '(none)', parse: parseText, group: 'Storage',
    doc: 'path or URL of an ISO or disk image (qcow2, raw/img, vmdk, vhd/vhdx, Vagrant .box); wins over VERSION',
  }),
  bootSha256: option<string>({
    env: 'BOOT_SHA256', flag: 'boot-sha256', default: undefined, defaultText: '(none)', parse: parseSha256, group: 'Storage',
    doc: 'expected SHA-256 of a downloaded BOOT; a mismatch keeps nothing and exits 4',
  }),
  bootCopy: option<boolean>({
    env: 'BOOT_COPY', flag: 'boot-copy', default: false, defaultText: 'N', parse: parseBool, group: 'Storage',
    doc: 'Y: copy a local BOOT disk image instead of layering a copy-on-write overlay on it',
  }),
  bootTrust: option<boolean>({
    env: 'BOOT_TRUST', flag: 'boot-trust', default: false, defaultText: 'N', parse: parseBool, group: 'Storage',
    doc: 'Y: let a BOOT image name other files (a qcow2 backing or data file, VMDK extents beyond its own folder); they become readable by the guest',
  }),
  connections: option<number>({
    env: 'CONNECTIONS', flag: 'connections', default: 4, defaultText: '4', parse: intParser(1, 16, 'a whole number of connections from 1 to 16'), group: 'Storage',
    doc: 'connections at once for a download of 64 MiB or more whose server honours Range (1: one connection)',
  }),
  storage: option<string>({
    env: 'STORAGE', flag: 'storage', default: '/storage', defaultText: '/storage', parse: parseText, group: 'Storage',
    doc: 'persistent directory: disks, downloads, state',
  }),
  runDir: option<string>({
    env: 'RUN_DIR', flag: 'run-dir', default: '/run/windock', defaultText: '/run/windock', parse: parseText, group: 'Supervisor',
    doc: 'private directory for sockets, pid files and generated configs (not persistent)',
  }),
  ramSize: option<number>({
    env: 'RAM_SIZE', flag: 'ram-size', default: 4 * GiB, defaultText: '4G', parse: ramSizeParser(64 * MiB, '64M'), group: 'VM',
    doc: 'guest memory: 512M, 4G; a bare number is GB below 130, else MB (8 = 8G); half or max of the memory available',
  }),
  ramCheck: option<boolean>({
    env: 'RAM_CHECK', flag: 'ram-check', default: true, defaultText: 'Y', parse: parseBool, group: 'VM',
    doc: 'N: start even when RAM_SIZE exceeds the memory available to the container',
  }),
  cpuCores: option<number>({
    env: 'CPU_CORES', flag: 'cpu-cores', default: 2, defaultText: '2', parse: parseCpuCores, group: 'VM',
    doc: 'guest vCPUs: a count, half or max of the CPUs available (more than available is limited)',
  }),
  diskSize: option<number>({
    env: 'DISK_SIZE', flag: 'disk-size', default: 64 * GiB, defaultText: '64G', parse: diskSizeParser(MiB, '1M', 64 * GiB, '64G'), group: 'Storage',
    doc: 'size of a new disk; a larger value grows an existing disk, a smaller one is refused',
  }),
  diskFmt: option<(typeof DISK_FORMATS)[number]>({
    env: 'DISK_FMT', flag: 'disk-fmt', default: 'qcow2', defaultText: 'qcow2', parse: enumParser(DISK_FORMATS), group: 'Storage',
    doc: 'format of a newly created disk: qcow2 or raw',
  }),
  diskType: option<(typeof DISK_BUSES)[number]>({
    env: 'DISK_TYPE', flag: 'disk-type', default: undefined, defaultText: 'scsi (sata for Windows without virtio drivers)', parse: parseDiskType, group: 'Storage',
    doc: 'disk controller: scsi (virtio-scsi), blk (virtio-blk), sata or ide (AHCI, no drivers needed), nvme, usb (usb-storage)',
  }),
  // Device settings and extra disks (issue 13): dockur/qemus names and values, docs/environment.md.
  diskIo: option<(typeof DISK_IO_MODES)[number]>({
    env: 'DISK_IO', flag: 'disk-io', default: undefined, defaultText: 'threads', parse: parseDiskIo, group: 'Storage',
    doc: 'disk I/O mode: threads, native (Linux AIO; needs DISK_CACHE=none or directsync) or io_uring (needs a seccomp profile allowing it)',
  }),
  diskCache: option<(typeof DISK_CACHE_MODES)[number]>({
    env: 'DISK_CACHE', flag: 'disk-cache', default: undefined, defaultText: 'writeback (host page cache, guest flushes honoured)', parse: parseDiskCache, group: 'Storage',
    doc: 'disk cache mode: writeback, none (O_DIRECT; not on tmpfs), writethrough, directsync or unsafe (flushes ignored)',
  }),
  diskDiscard: option<'unmap' | 'ignore'>({
    env: 'DISK_DISCARD', flag: 'disk-discard', default: 'unmap', defaultText: 'unmap', parse: parseDiscard, group: 'Storage',
    doc: "unmap (Y): the guest's TRIM frees space in the image; ignore (N): it does not",
  }),
  diskRotation: option<number>({
    env: 'DISK_ROTATION', flag: 'disk-rotation', default: 1, defaultText: '1 (an SSD)', parse: intParser(0, 65535, 'a rotation rate: 1 for an SSD, else RPM'), group: 'Storage',
    doc: 'rotation rate the scsi and sata disks report: 1 says SSD (Windows then trims instead of defragmenting)',
  }),
  diskOptions: option<string>({
    env: 'DISK_OPTIONS', flag: 'disk-options', default: undefined, defaultText: '(none)', parse: qemuWordParser('QEMU device options such as "physical_block_size=4096", no spaces'), group: 'Storage',
    doc: 'options appended to every disk device (-device ...,OPTIONS)',
  }),
  allocate: option<boolean>({
    env: 'ALLOCATE', flag: 'allocate', default: false, defaultText: 'N', parse: parseBool, group: 'Storage',
    doc: "Y: reserve a new disk's full size at once (preallocation=falloc); existing disks are left as they are",
  }),
  disk2Size: option<number>({ env: 'DISK2_SIZE', flag: 'disk2-size', default: undefined, defaultText: '(no disk 2)', parse: sizeParser(MiB, '1M'), group: 'Storage', doc: 'size of a second disk, made in /storage2 when mounted, else in STORAGE (data2.qcow2); never shrunk' }),
  disk3Size: option<number>({ env: 'DISK3_SIZE', flag: 'disk3-size', default: undefined, defaultText: '(no disk 3)', parse: sizeParser(MiB, '1M'), group: 'Storage', doc: 'the same for disk 3 (/storage3)' }),
  disk4Size: option<number>({ env: 'DISK4_SIZE', flag: 'disk4-size', default: undefined, defaultText: '(no disk 4)', parse: sizeParser(MiB, '1M'), group: 'Storage', doc: 'the same for disk 4 (/storage4)' }),
  disk5Size: option<number>({ env: 'DISK5_SIZE', flag: 'disk5-size', default: undefined, defaultText: '(no disk 5)', parse: sizeParser(MiB, '1M'), group: 'Storage', doc: 'the same for disk 5 (/storage5)' }),
  disk6Size: option<number>({ env: 'DISK6_SIZE', flag: 'disk6-size', default: undefined, defaultText: '(no disk 6)', parse: sizeParser(MiB, '1M'), group: 'Storage', doc: 'the same for disk 6 (/storage6)' }),
  device: option<string>({ env: 'DEVICE', flag: 'device', default: undefined, defaultText: '/dev/disk1 or /disk1 when a block device', parse: parseText, group: 'Storage', doc: 'a block device as the system disk instead of STORAGE/data.qcow2: attached raw as it is, never resized; Windows is installed onto it only when it is blank (its first MiB all zeros)' }),
  device2: option<string>({ env: 'DEVICE2', flag: 'device2', default: undefined, defaultText: '/dev/disk2 or /disk2 when a block device', parse: parseText, group: 'Storage', doc: 'a block device attached as disk 2 (wins over DISK2_SIZE)' }),
  device3: option<string>({ env: 'DEVICE3', flag: 'device3', default: undefined, defaultText: '/dev/disk3 or /disk3', parse: parseText, group: 'Storage', doc: 'the same for disk 3' }),
  device4: option<string>({ env: 'DEVICE4', flag: 'device4', default: undefined, defaultText: '/dev/disk4 or /disk4', parse: parseText, group: 'Storage', doc: 'the same for disk 4' }),
  device5: option<string>({ env: 'DEVICE5', flag: 'device5', default: undefined, defaultText: '/dev/disk5 or /disk5', parse: parseText, group: 'Storage', doc: 'the same for disk 5' }),
  device6: option<string>({ env: 'DEVICE6', flag: 'device6', default: undefined, defaultText: '/dev/disk6 or /disk6', parse: parseText, group: 'Storage', doc: 'the same for disk 6' }),
  mountRoot: option<string>({
    env: 'MOUNT_ROOT', flag: 'mount-root', default: '/', defaultText: '/', parse: parseText, group: 'Storage',
    doc: "where dockur's mount points are looked for: storage2..storage6, disk2..disk6 (block devices), disk2.img.. (images), dev/disk2..; set only for tests",
  }),
  cpuModel: option<string>({
    env: 'CPU_MODEL', flag: 'cpu-model', default: undefined, defaultText: 'host under KVM, max under TCG', parse: qemuWordParser('a QEMU CPU model such as "host" or "Skylake-Client-v4"'), group: 'VM',
    doc: 'QEMU CPU model (-cpu MODEL)',
  }),
  cpuFlags: option<string>({
    env: 'CPU_FLAGS', flag: 'cpu-flags', default: undefined, defaultText: '(none)', parse: qemuWordParser('QEMU CPU flags such as "+avx2,-hle", no spaces'), group: 'VM',
    doc: 'CPU flags appended to -cpu, e.g. "+avx2,-hle"',
  }),
  smp: option<SmpLayout>({
    env: 'SMP', flag: 'smp', default: undefined, defaultText: 'CPU_CORES cores in one socket, one thread each', parse: parseSmp, group: 'VM',
    doc: 'CPU layout as QEMU -smp takes it, e.g. "4,sockets=1,cores=2,threads=2"; wins over CPU_CORES',
  }),
  vmx: option<boolean>({
    env: 'VMX', flag: 'vmx', default: undefined, defaultText: "the CPU model's own", parse: parseBool, group: 'VM',
    doc: 'N hides Intel VMX (nested virtualization) from the guest; Y keeps it',
  }),
  hv: option<boolean>({
    env: 'HV', flag: 'hv', default: undefined, defaultText: 'Y under KVM', parse: parseBool, group: 'VM',
    doc: 'Hyper-V enlightenments for Windows guests (KVM only); N turns them off',
  }),
  machine: option<string>({
    env: 'MACHINE', flag: 'machine', default: 'q35', defaultText: 'q35', parse: parseMachine, group: 'VM',
    doc: 'QEMU machine type: q35 or a versioned pc-q35-X.Y (other types are read as q35 with a warning)',
  }),
  ballooning: option<boolean>({
    env: 'BALLOONING', flag: 'ballooning', default: false, defaultText: 'N', parse: parseBool, group: 'VM',
    doc: 'Y: a virtio-balloon with free page reporting, so memory the guest frees goes back to the host',
  }),
  usb: option<string>({
    env: 'USB', flag: 'usb', default: 'qemu-xhci', defaultText: 'qemu-xhci', parse: parseUsbController, group: 'VM',
    doc: 'USB controller: qemu-xhci or nec-usb-xhci (others are read as qemu-xhci with a warning)',
  }),
  usbPassthrough: option<UsbId[]>({
    env: 'USB_PASSTHROUGH', flag: 'usb-passthrough', default: [], defaultText: '(none)', parse: parseUsbIds, group: 'VM',
    doc: 'host USB devices for the guest, "vendor:product" as lsusb prints them (needs --device /dev/bus/usb); same as ARGUMENTS "-device usb-host,vendorid=0x..,productid=0x.."',
  }),
  ephemeral: option<boolean>({
    env: 'EPHEMERAL', flag: 'ephemeral', default: false, defaultText: 'N', parse: parseBool, group: 'Storage',
    doc: 'Y: discard every change at each start (a throw-away overlay over the disk, which stays untouched); windock reset goes back to the start',
  }),
  kvm: option<boolean>({
    env: 'KVM', flag: 'kvm', default: true, defaultText: 'Y', parse: parseBool, group: 'VM',
    doc: 'N: run under TCG software emulation (slow)',
  }),
  bootMode: option<(typeof BOOT_MODES)[number]>({
    env: 'BOOT_MODE', flag: 'boot-mode', default: undefined, defaultText: 'per media', parse: parseBootMode, group: 'VM',
    doc: "firmware: uefi, secure (UEFI secure boot + TPM) or legacy (SeaBIOS); dockur's windows, windows_secure, windows_legacy are the same three",
  }),
  network: option<(typeof NETWORK_MODES)[number]>({
    env: 'NETWORK', flag: 'network', default: 'tap', defaultText: 'tap', parse: parseNetwork, group: 'Network',
    doc: 'tap (bridge + tap + NAT; needs NET_ADMIN and /dev/net/tun; also nat, Y), user (no privileges; also passt, slirp) or none (also N)',
  }),
  mac: option<string>({
    env: 'MAC', flag: 'mac', default: undefined, defaultText: 'generated once, kept in windock.json', parse: parseMac, group: 'Network',
    doc: "the guest NIC's MAC address",
  }),
  adapter: option<string>({
    env: 'ADAPTER', flag: 'adapter', default: undefined, defaultText: 'virtio-net-pci (e1000e for Windows without virtio drivers)', parse: qemuWordParser('a QEMU NIC model such as "virtio-net-pci" or "e1000e"'), group: 'Network',
    doc: 'QEMU network adapter model',
  }),
  mtu: option<number>({
    env: 'MTU', flag: 'mtu', default: undefined, defaultText: "the link's", parse: intParser(68, 65535, 'an MTU from 68 to 65535'), group: 'Network',
    doc: 'MTU the guest NIC advertises (virtio-net host_mtu)',
  }),
  hostNetwork: option<boolean>({
    env: 'HOST_NETWORK', flag: 'host-network', default: false, defaultText: 'N', parse: parseBool, group: 'Network',
    doc: "Y: allow NETWORK=tap in what looks like the host's own network namespace (every port of the host would be forwarded to the guest)",
  }),
  hostPorts: option<PortRule[]>({
    env: 'HOST_PORTS', flag: 'host-ports', default: [], defaultText: '(none)', parse: parsePortList, group: 'Network',
    doc: 'container ports that stay with the container instead of being forwarded to the guest (WEB_PORT always does)',
  }),
  userPorts: option<PortRule[]>({
    env: 'USER_PORTS', flag: 'user-ports', default: [], defaultText: '(none)', parse: parsePortList, group: 'Network',
    doc: 'with NETWORK=user: ports forwarded to the guest besides 3389 tcp+udp',
  }),
  samba: option<boolean>({
    env: 'SAMBA', flag: 'samba', default: true, defaultText: 'Y', parse: parseBool, group: 'Network',
    doc: 'offer the folder mounted at /shared (or /data) to the guest as \\\\host.lan\\Data over SMB (NETWORK=user: \\\\10.0.2.4\\qemu, or .4 of the network slirp moved to); N: no shared folder',
  }),
  sambaReadonly: option<boolean>({
    env: 'SAMBA_READONLY', flag: 'samba-readonly', default: false, defaultText: 'N', parse: parseBool, group: 'Network',
    doc: 'Y: the guest may read the shared folder but not write to it',
  }),
  shareDir: option<string>({
    env: 'SHARE_DIR', flag: 'share-dir', default: undefined, defaultText: '/shared, else /data (the first mounted)', parse: parseText, group: 'Network',
    doc: 'the directory offered as the shared folder',
  }),
  dhcp: option<boolean>({
    env: 'DHCP', flag: 'dhcp', default: false, defaultText: 'N', parse: parseBool, group: 'Network',
    doc: "Y: LAN mode: the guest gets its address from the LAN's DHCP server through a macvtap on the container's interface (the container itself cannot reach the guest then)",
  }),
  webPort: option<number>({
    env: 'WEB_PORT', flag: 'web-port', default: 8006, defaultText: '8006', parse: parsePort, group: 'Web',
    doc: 'port of /health and the browser viewer',
  }),
  readyPort: option<number>({
    env: 'READY_PORT', flag: 'ready-port', default: 3389, defaultText: '3389', parse: parsePort, group: 'Web',
    doc: 'guest port whose answer makes /health/ready 200',
  }),
  webToken: option<string>({
    env: 'WEB_TOKEN', flag: 'web-token', default: undefined, defaultText: 'random, kept in STORAGE', parse: parseWebToken, group: 'Web', secret: true,
    doc: 'access token of the browser viewer',
  }),
  webAuth: option<boolean>({
    env: 'WEB_AUTH', flag: 'web-auth', default: true, defaultText: 'Y', parse: parseBool, group: 'Web',
    doc: 'N: no token for the viewer (only behind your own authenticating proxy)',
  }),
  viewOnly: option<boolean>({
    env: 'VIEW_ONLY', flag: 'view-only', default: false, defaultText: 'N', parse: parseBool, group: 'Web',
    doc: 'Y: the viewer shows the screen but sends no input',
  }),
  shutdownTimeout: option<number>({
    env: 'SHUTDOWN_TIMEOUT', flag: 'shutdown-timeout', default: 110, defaultText: '110',
    parse: intParser(0, 86400, 'a whole number of seconds from 0 to 86400'), group: 'Supervisor', dockur: 'TIMEOUT',
    doc: 'seconds the guest gets to power off after the ACPI power button',
  }),
  arguments: option<string[]>({
    env: 'ARGUMENTS', flag: 'arguments', default: [], defaultText: '(none)', parse: parseWords, group: 'VM',
    doc: 'extra QEMU arguments, appended (quotes group words; nothing is run by a shell)',
  }),
  debug: option<boolean>({
    env: 'DEBUG', flag: 'debug', default: false, defaultText: 'N', parse: parseBool, group: 'Supervisor',
    doc: 'Y: debug logs, including the guest serial console',
  }),
  logFormat: option<(typeof LOG_FORMATS)[number]>({
    env: 'LOG_FORMAT', flag: 'log-format', default: undefined, defaultText: 'pretty on a TTY, else json', parse: enumParser(LOG_FORMATS), group: 'Supervisor',
    doc: 'json or pretty',
  }),
  // Windows unattended install (issue 7). Names follow dockur/windows; values are checked by
  // src/windows/settings.ts, which knows Windows' rules for user and computer names.
  username: option<string>({
    env: 'USERNAME', flag: 'username', default: 'Docker', defaultText: 'Docker', parse: parseText, group: 'Windows',
    doc: 'name of the Windows user account the unattended install creates',
  }),
  password: option<string>({
    env: 'PASSWORD', flag: 'password', default: 'admin', defaultText: 'admin (a warning is logged)', parse: parseText, group: 'Windows', secret: true,
    doc: 'password of that account (also the Administrator password)',
  }),
  language: option<string>({
    env: 'LANGUAGE', flag: 'language', default: 'English', defaultText: 'English', parse: parseText, group: 'Windows',
    doc: 'language of the Windows media and UI: a name such as "French" or a tag such as "fr-FR"',
  }),
  region: option<string>({
    env: 'REGION', flag: 'region', default: undefined, defaultText: 'follows LANGUAGE', parse: parseText, group: 'Windows',
    doc: 'regional format (locale) tag such as "en-GB"',
  }),
  keyboard: option<string>({
    env: 'KEYBOARD', flag: 'keyboard', default: undefined, defaultText: 'follows LANGUAGE', parse: parseText, group: 'Windows',
    doc: 'keyboard layout: a language tag such as "de-DE" or an input locale such as "0407:00000407"',
  }),
  edition: option<string>({
    env: 'EDITION', flag: 'edition', default: undefined, defaultText: 'per VERSION', parse: parseText, group: 'Windows',
    doc: 'edition to install from the media, e.g. "Pro", "Home", "Education", "Datacenter"',
  }),
  key: option<string>({
    env: 'KEY', flag: 'product-key', default: undefined, defaultText: 'generic install key', parse: parseText, group: 'Windows', secret: true,
    doc: 'product key used by Setup',
  }),
  computerName: option<string>({
    env: 'COMPUTER_NAME', flag: 'computer-name', default: undefined, defaultText: 'chosen by Windows Setup', parse: parseText, group: 'Windows', dockur: 'HOST',
    doc: 'the guest computer name (NetBIOS rules: up to 15 letters, digits or hyphens)',
  }),
  manual: option<boolean>({
    env: 'MANUAL', flag: 'manual', default: false, defaultText: 'N', parse: parseBool, group: 'Windows',
    doc: 'Y: no answer file; install Windows by hand in the viewer',
  }),
  remove: option<boolean>({
    env: 'REMOVE', flag: 'remove', default: false, defaultText: 'N', parse: parseBool, group: 'Windows',
    doc: 'Y: once the firmware has booted the installed Windows, delete the ISO windock downloaded into STORAGE (never your own ISO); dockur deletes it unless N',
  }),
  // Windows answer-file settings of dockur/windows (issue 12), read by src/windows/settings.ts.
  autologin: option<boolean>({
    env: 'AUTOLOGIN', flag: 'autologin', default: true, defaultText: 'Y', parse: parseBool, group: 'Windows',
    doc: 'Y: the account signs in by itself at every boot; N: Windows asks for the password',
  }),
  domain: option<string>({
    env: 'DOMAIN', flag: 'domain', default: undefined, defaultText: '(none)', parse: parseText, group: 'Windows',
    doc: 'Active Directory domain to join during Setup ("example.com"); USERNAME/PASSWORD are then the domain credentials',
  }),
  domainOu: option<string>({
    env: 'DOMAIN_OU', flag: 'domain-ou', default: undefined, defaultText: 'the domain\'s default', parse: parseText, group: 'Windows',
    doc: 'organizational unit for the computer account ("OU=VMs,DC=example,DC=com"), with DOMAIN',
  }),
  workgroup: option<string>({
    env: 'WORKGROUP', flag: 'workgroup', default: undefined, defaultText: 'WORKGROUP', parse: parseText, group: 'Windows',
    doc: 'workgroup to join when no DOMAIN is set',
  }),
  width: option<number>({
    env: 'WIDTH', flag: 'width', default: 1280, defaultText: '1280', parse: intParser(640, 7680, 'a width in pixels from 640 to 7680'), group: 'Windows',
    doc: 'horizontal screen resolution Windows is set to',
  }),
  height: option<number>({
    env: 'HEIGHT', flag: 'height', default: 720, defaultText: '720', parse: intParser(480, 4320, 'a height in pixels from 480 to 4320'), group: 'Windows',
    doc: 'vertical screen resolution Windows is set to',
  }),
  command: option<string>({
    env: 'COMMAND', flag: 'command', default: undefined, defaultText: '(none)', parse: parseText, group: 'Windows',
    doc: 'one command run at the end of the unattended install (first logon), e.g. a reg add',
  }),
  mirrors: option<string[]>({
    env: 'MIRRORS', flag: 'mirrors', default: [], defaultText: '(none)', parse: parseWords, group: 'Windows',
    doc: 'base URLs of mirrors for Windows ISOs Microsoft no longer serves; a file is used only when it hashes to the digest the catalog pins',
  }),
} as const;

export type OptionName = keyof typeof OPTIONS;
type ValueOf<O> = O extends Option<infer T> ? T : never;
type HasDefault<O> = O extends { default: undefined } ? false : true;

/** The resolved configuration: options with a default are always set, the others optional. */
export type Config = {
  -readonly [K in OptionName as HasDefault<(typeof OPTIONS)[K]> extends true ? K : never]: ValueOf<(typeof OPTIONS)[K]>;
} & {
  -readonly [K in OptionName as HasDefault<(typeof OPTIONS)[K]> extends true ? never : K]?: ValueOf<(typeof OPTIONS)[K]>;
};
