/**
 * dockur/windows and qemus/qemu variables (docs/environment.md of both) that windock has no row
 * for: each is read and answered with a warning saying what windock does instead, so that a
 * dockur compose file never loses a setting silently. `same` lists values that mean what windock
 * does anyway (dockur's defaults, mostly): those pass without a word. A variable that gains a row
 * in options.ts is honoured and its entry here is skipped (resolve.ts), so a row always wins.
 */
export interface DockurOnly {
  env: string;
  /** What windock does instead; the warning reads `NAME=value: <instead>`. */
  instead: string;
  /** Lower-case values that need no warning. */
  same?: readonly string[];
}

const N = ['n', 'no', 'off', 'false', '0'];
const Y = ['y', 'yes', 'on', 'true', '1'];

export const DOCKUR_ONLY: readonly DockurOnly[] = [
  // Windows install
  { env: 'LOG', instead: 'windock runs no install.bat, so there is no install log', same: N },
  { env: 'MIDO', instead: 'windock always asks Microsoft for the ISO of a known VERSION', same: Y },
  { env: 'ESD', instead: 'windock downloads ISOs only, never ESD files', same: N },
  { env: 'VERIFY', instead: 'windock checks the digests it knows for a download (BOOT_SHA256 for BOOT)', same: Y },
  // CPU, memory, storage
  { env: 'DISK_FLAGS', instead: 'windock creates qcow2 disks with its own options (DISK_FMT, ALLOCATE)' },
  { env: 'DISK_NAME', instead: 'windock names its disks data.qcow2 / data.img (data2… for extra disks)', same: ['data'] },
  // Network
  { env: 'IP', instead: "windock's DHCP server gives the guest the first free address of its own subnet" },
  { env: 'MASK', instead: 'windock picks a /24 of its own that does not overlap the container\'s networks', same: ['255.255.255.0'] },
  { env: 'DEV', instead: 'windock uses the interface of the default route as the uplink' },
  { env: 'TAP', instead: 'windock names its tap itself' },
  { env: 'BRIDGE', instead: 'windock names its bridge itself' },
  { env: 'DNSMASQ_OPTS', instead: 'windock runs dnsmasq with its own options only' },
  { env: 'DNSMASQ_DEBUG', instead: 'DEBUG=Y logs dnsmasq at debug level', same: N },
  { env: 'DNSMASQ_DISABLE', instead: 'windock always runs dnsmasq for the guest in NETWORK=tap', same: N },
  { env: 'PASST_OPTS', instead: 'windock runs passt with its own options only' },
  { env: 'PASST_DEBUG', instead: 'DEBUG=Y logs passt at debug level', same: N },
  // Display and web
  { env: 'DISPLAY', instead: 'windock always serves its browser viewer on WEB_PORT (VNC on a private socket)', same: ['web'] },
  { env: 'VGA', instead: 'windock gives the guest a standard VGA (-vga std)', same: ['std'] },
  { env: 'GPU', instead: 'windock offers no GPU acceleration', same: N },
  { env: 'RENDERNODE', instead: 'windock offers no GPU acceleration' },
  { env: 'WEB', instead: 'windock always serves /health and the viewer on WEB_PORT (the HEALTHCHECK needs it); VIEW_ONLY and WEB_AUTH tune the viewer', same: Y },
  { env: 'VNC_PORT', instead: 'windock serves VNC only on a private unix socket, through the viewer on WEB_PORT' },
  { env: 'LOSSY', instead: "windock's viewer uses lossless encodings", same: N },
  { env: 'AUDIO', instead: 'windock streams no audio to the viewer; RDP carries the guest\'s sound', same: N },
  { env: 'PROTECT', instead: 'the viewer always asks for its token (WEB_TOKEN) unless WEB_AUTH=N', same: Y },
  // System and boot
  { env: 'PCI_BUS', instead: 'windock places devices on the q35 root bus', same: ['pcie.0'] },
  { env: 'RNG', instead: 'windock always gives the guest a virtio RNG', same: Y },
  { env: 'UUID', instead: 'QEMU chooses the machine UUID' },
  { env: 'HPET', instead: 'windock leaves the HPET at QEMU\'s q35 default', same: ['off', 'n', 'no'] },
  { env: 'VMPORT', instead: 'windock always turns the VMware port off', same: ['off', 'n', 'no'] },
  { env: 'MOUSE', instead: 'windock always gives the guest a USB tablet (absolute pointer for the viewer)', same: ['usb-tablet'] },
  { env: 'SOUND', instead: 'windock gives the guest no sound device' },
  { env: 'SM_BIOS', instead: 'windock passes no SMBIOS tables; use ARGUMENTS="-smbios ..."' },
  { env: 'BOOT_INDEX', instead: 'windock orders boot devices itself (install media first until the install is done)' },
  { env: 'MEDIA_TYPE', instead: 'windock attaches install media as SATA CD-ROMs (USB sticks for images)' },
  { env: 'BIOS', instead: 'windock uses the OVMF or SeaBIOS firmware of BOOT_MODE' },
  { env: 'TPM', instead: 'BOOT_MODE=secure gives the guest a TPM; other modes have none' },
  { env: 'SMM', instead: 'BOOT_MODE=secure turns SMM on; other modes leave it off' },
  { env: 'LOGO', instead: 'windock shows no boot logo' },
  { env: 'CLEAR', instead: 'windock keeps the firmware variables; delete the vars file in STORAGE to reset them', same: N },
  // Ballooning tuning: windock runs no balloon controller
  ...['MIN_MEM', 'RAM_THRESHOLD', 'RAM_THRESHOLD_HARD', 'PSI_PRESSURE', 'PSI_PRESSURE_MAX', 'HYSTERESIS', 'KP', 'KI', 'INTERVAL', 'DEBUG'].map(
    (name): DockurOnly => ({
      env: `BALLOONING_${name}`,
      instead: 'windock runs no balloon controller: with BALLOONING=Y the guest returns the memory it frees (free page reporting)',
      ...(name === 'DEBUG' ? { same: N } : {}),
    }),
  ),
  // Shutdown and debugging
  { env: 'SHUTDOWN', instead: 'windock always presses the ACPI power button first and waits SHUTDOWN_TIMEOUT', same: Y },
  { env: 'TRACE', instead: 'DEBUG=Y gives debug logs', same: N },
  { env: 'SERIAL', instead: "windock reads the guest's serial console into its log (DEBUG=Y shows it)", same: ['mon:stdio'] },
  { env: 'MONITOR', instead: 'windock offers no HMP monitor; QMP stays private to the supervisor' },
  { env: 'QMP', instead: 'QMP stays private to the supervisor, on a unix socket in RUN_DIR' },
];
