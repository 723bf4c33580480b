/**
 * Catalog rows for Windows before 8: Vista and 7 (Autounattend.xml on SeaBIOS, USB 1.1 for the
 * setup image, e1000 without virtio drivers), and the NT 5 and 9x families (2000, XP, 2003, ME,
 * 98, 95), installed by hand in the viewer on an i440FX machine with an IDE disk and a NIC their
 * inbox drivers know. Facts (keys, aliases, files, sizes, digests, install keys, hardware) are
 * dockur/windows' (src/define.sh `parseVersion`, `getLink*`; src/legacy.sh `setMachine`;
 * assets/*.xml). Microsoft hosts none of these any more: only mirrors (MIRRORS) or the user's own
 * ISO (/boot.iso) provide them.
 */
import type { CatalogEntry, MediaRoute } from './catalog.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const mirror = (file: string, size: number, sha256: string): MediaRoute => ({ kind: 'mirror', culture: 'en-US', file, size, sha256 });

/** 32-bit Windows before 8: no NX/long mode (PAE path, PCI windows above 4 GB), the pre-2.11 q35 PCI hole. */
const X86_CPU = ['nx=off', 'lm=off'] as const;
const OLD_PCI_HOLE = ['q35-pcihost.x-pci-hole64-fix=false'] as const;

type NtRow = Pick<CatalogEntry, 'key' | 'aliases' | 'product' | 'edition' | 'arch' | 'minRamBytes' | 'minDiskBytes' | 'routes'> & { virtioOs: string };

/** Vista and 7: Setup reads Autounattend.xml like 8 and later, on SeaBIOS with inbox AHCI and e1000. */
function nt6(row: NtRow & { installKey: string; imageName: string }): CatalogEntry {
  const { installKey, imageName, ...rest } = row;
  return {
    family: 'client',
    image: { by: 'name', value: imageName },
    imageNameFor: undefined,
    genericKeys: { [row.edition]: installKey },
    install: 'xml',
    bootMode: 'legacy',
    machine: 'q35',
    usb: 'uhci',
    devices: { withDrivers: { disk: 'scsi', nic: 'virtio-net-pci' }, withoutDrivers: { disk: 'sata', nic: 'e1000' } },
    cpuFlags: row.arch === 'x86' ? X86_CPU : [],
    globals: row.arch === 'x86' ? OLD_PCI_HOLE : [],
    acpiPowerButton: true,
    ...rest,
  };
}

const W7_ULTIMATE = 'D4F6K-QK3RD-TMVMJ-BBMRX-3MBMV';
const W7_ENTERPRISE = 'H7X92-3VPBB-Q799D-Y6JJ3-86WC6';
const VISTA_ULTIMATE = 'VMCB9-FDRV6-6CDQM-RV23K-RP8F7';
const VISTA_ENTERPRISE = 'VKK3X-68KWM-X2YGT-QR4M6-4BWMV';

type OldRow = Pick<CatalogEntry, 'key' | 'aliases' | 'product' | 'family' | 'edition' | 'minRamBytes' | 'minDiskBytes' | 'routes'> & Partial<CatalogEntry>;

/** NT 5 and 9x: manual installs on i440FX (PIIX IDE: no AHCI driver exists for them), SeaBIOS, rtl8139. */
function old(row: OldRow): CatalogEntry {
  return {
    arch: 'x86',
    image: { by: 'index', value: 1 },
    imageNameFor: undefined,
    genericKeys: {},
    install: 'manual',
    bootMode: 'legacy',
    machine: 'pc',
    usb: 'uhci',
    devices: { withDrivers: { disk: 'ide', nic: 'rtl8139' }, withoutDrivers: { disk: 'ide', nic: 'rtl8139' } },
    cpuFlags: X86_CPU,
    globals: [],
    acpiPowerButton: true,
    virtioOs: undefined,
    readsMediaAfterDiskBoot: true,
    ...row,
  };
}

/** Windows 9x: AMD PCnet (their inbox NIC driver), no USB (dockur legacy.sh). */
const NINE_X = { devices: { withDrivers: { disk: 'ide', nic: 'pcnet' }, withoutDrivers: { disk: 'ide', nic: 'pcnet' } }, usb: 'none' } as const;

export const LEGACY_CATALOG: readonly CatalogEntry[] = [
  nt6({
    key: '7u', aliases: ['7', 'win7', 'windows7', 'windows 7', 'win7u', 'windows7u', 'windows 7u', 'win7x64', 'win7x64-ultimate'],
    product: 'Windows 7 Ultimate', edition: 'Ultimate', arch: 'amd64', imageName: 'Windows 7 Ultimate', installKey: W7_ULTIMATE,
    minRamBytes: 2 * GiB, minDiskBytes: 16 * GiB, virtioOs: 'w7',
    routes: [mirror('en_windows_7_ultimate_with_sp1_x64_dvd_u_677332.iso', 3320903680, '36f4fa2416d0982697ab106e3a72d2e120dbcdb6cc54fd3906d06120d0653808')],
  }),
  nt6({
    key: '7e', aliases: ['win7e', 'windows7e', 'windows 7e', 'win7x64-enterprise'],
    product: 'Windows 7 Enterprise', edition: 'Enterprise', arch: 'amd64', imageName: 'Windows 7 Enterprise', installKey: W7_ENTERPRISE,
    minRamBytes: 2 * GiB, minDiskBytes: 16 * GiB, virtioOs: 'w7',
    routes: [mirror('en_windows_7_enterprise_with_sp1_x64_dvd_u_677651.iso', 3182604288, 'ee69f3e9b86ff973f632db8e01700c5724ef78420b175d25bae6ead90f6805a7')],
  }),
  nt6({
    key: '7ux86', aliases: ['7x86', 'win7x86', 'win732', 'windows7x86', '7u32', 'win7x86-ultimate'],
    product: 'Windows 7 Ultimate (32-bit)', edition: 'Ultimate', arch: 'x86', imageName: 'Windows 7 Ultimate', installKey: W7_ULTIMATE,
    minRamBytes: 1 * GiB, minDiskBytes: 16 * GiB, virtioOs: 'w7',
    routes: [mirror('en_windows_7_ultimate_with_sp1_x86_dvd_u_677460.iso', 2564476928, 'e2c009a66d63a742941f5087acae1aa438dcbe87010bddd53884b1af6b22c940')],
  }),
  nt6({
    key: '7ex86', aliases: ['7e32', 'win7x86-enterprise'],
    product: 'Windows 7 Enterprise (32-bit)', edition: 'Enterprise', arch: 'x86', imageName: 'Windows 7 Enterprise', installKey: W7_ENTERPRISE,
    minRamBytes: 1 * GiB, minDiskBytes: 16 * GiB, virtioOs: 'w7',
    routes: [mirror('en_windows_7_enterprise_with_sp1_x86_dvd_u_677710.iso', 2434502656, '8bdd46ff8cb8b8de9c4aba02706629c8983c45e87da110e64e13be17c8434dad')],
  }),
  nt6({
    key: 'vu', aliases: ['vista', 'vs', '6', 'winvista', 'windowsvista', 'windows vista', 'vistu', '6u', 'winvistu', 'winvistax64', 'winvistax64-ultimate'],
    product: 'Windows Vista Ultimate', edition: 'Ultimate', arch: 'amd64', imageName: 'Windows Vista Ultimate', installKey: VISTA_ULTIMATE,
    // Vista has no virtio-win folder of its own: Server 2008 (same kernel) drivers fit it.
    minRamBytes: 1 * GiB, minDiskBytes: 16 * GiB, virtioOs: '2k8',
    routes: [mirror('en_windows_vista_sp2_x64_dvd_342267.iso', 3861460992, 'edf9f947c5791469fd7d2d40a5dcce663efa754f91847aa1d28ed7f585675b78')],
  }),
  nt6({
    key: 've', aliases: ['viste', '6e', 'winviste', 'winvistax64-enterprise'],
    product: 'Windows Vista Enterprise', edition: 'Enterprise', arch: 'amd64', imageName: 'Windows Vista Enterprise', installKey: VISTA_ENTERPRISE,
    minRamBytes: 1 * GiB, minDiskBytes: 16 * GiB, virtioOs: '2k8',
    routes: [mirror('en_windows_vista_enterprise_sp2_x64_dvd_342332.iso', 3205953536, '0a0cd511b3eac95c6f081419c9c65b12317b9d6a8d9707f89d646c910e788016')],
  }),
  nt6({
    key: 'vux86', aliases: ['vistax86', 'vista32', '6x86', 'winvistax86', 'windowsvistax86', 'vu32', 'winvistax86-ultimate'],
    product: 'Windows Vista Ultimate (32-bit)', edition: 'Ultimate', arch: 'x86', imageName: 'Windows Vista Ultimate', installKey: VISTA_ULTIMATE,
    minRamBytes: 1 * GiB, minDiskBytes: 16 * GiB, virtioOs: '2k8',
    routes: [mirror('en_windows_vista_with_sp2_x86_dvd_342266.iso', 3243413504, '9c36fed4255bd05a8506b2da88f9aad73643395e155e609398aacd2b5276289c')],
  }),
  nt6({
    key: 'vex86', aliases: ['ve32', 'winvistax86-enterprise'],
    product: 'Windows Vista Enterprise (32-bit)', edition: 'Enterprise', arch: 'x86', imageName: 'Windows Vista Enterprise', installKey: VISTA_ENTERPRISE,
    minRamBytes: 1 * GiB, minDiskBytes: 16 * GiB, virtioOs: '2k8',
    routes: [mirror('en_windows_vista_enterprise_sp2_x86_dvd_342329.iso', 2420981760, '54e2720004041e7db988a391543ea5228b0affc28efcf9303d2d0ff9402067f5')],
  }),
  old({
    key: 'xp', aliases: ['xp32', 'xpx86', '5', '5x86', 'winxp', 'winxp86', 'windowsxp', 'windows xp', 'winxpx86'],
    product: 'Windows XP Professional', family: 'client', edition: 'Professional', minRamBytes: 256 * MiB, minDiskBytes: 2 * GiB,
    routes: [mirror('en_windows_xp_professional_with_service_pack_3_x86_cd_x14-80428.iso', 617756672, '62b6c91563bad6cd12a352aa018627c314cfc5162d8e9f8af0756a642e602a46')],
  }),
  old({
    key: 'xp64', aliases: ['xpx64', '5x64', 'winxp64', 'winxpx64', 'windowsxp64', 'windowsxpx64'],
    product: 'Windows XP Professional x64', family: 'client', edition: 'Professional', arch: 'amd64', cpuFlags: [],
    minRamBytes: 256 * MiB, minDiskBytes: 2 * GiB,
    routes: [mirror('CRMPXFPP_EN.iso', 628299776, '49b87fc4a9191dcf57588a2d36a87da87a37577e0f0a57b778dc15874287f8b0')],
  }),
  old({
    key: '2003', aliases: ['2003r2', '2k3', 'win2003', 'win2003r2', 'windows2003', 'windows 2003'],
    product: 'Windows Server 2003 R2 Standard x64', family: 'server', edition: 'Standard', arch: 'amd64', cpuFlags: [],
    minRamBytes: 512 * MiB, minDiskBytes: 4 * GiB,
    routes: [mirror('en_win_srv_2003_r2_standard_x64_with_sp2_cd1_x13-05757.iso', 652367872, '74245cba888f935b138b106c2744bec7f392925b472358960a0b5643cd6abb32')],
  }),
  old({
    key: '2k', aliases: ['2000', 'win2k', 'win2000', 'windows2k', 'windows2000', 'win2kx86'],
    product: 'Windows 2000 Professional', family: 'client', edition: 'Professional', minRamBytes: 256 * MiB, minDiskBytes: 1 * GiB,
    routes: [mirror('5.00.2195.6717_x86fre_client-professional_retail_en-us-ZRMPFPP_EN.iso', 386859008, 'e3816f6e80b66ff686ead03eeafffe9daf020a5e4717b8bd4736b7c51733ba22')],
  }),
  old({
    key: 'me', aliases: ['winme', 'win9x', 'windowsme', 'windows me'],
    product: 'Windows ME', family: 'client', edition: 'ME', ...NINE_X, minRamBytes: 256 * MiB, minDiskBytes: 512 * MiB,
    routes: [mirror('Windows%20ME.ISO', 523665408, 'bff3e9e69e625d2fdffd01b326988c45be8b9285465a4dabbae96ac550de611e')],
  }),
  old({
    key: '98', aliases: ['98se', 'win98', 'win98se', 'windows98', 'windows98se', 'windows 98', 'windows 98 se'],
    product: 'Windows 98 Second Edition', family: 'client', edition: 'SE', ...NINE_X, minRamBytes: 256 * MiB, minDiskBytes: 256 * MiB,
    routes: [mirror('Windows%2098%20Second%20Edition.iso', 655591424, '2adfb46df8a9c7bbd2f67bff07461cc2f9d9ec8e01f0e112cb044c9e3e62f607')],
  }),
  old({
    key: '95', aliases: ['95c', 'win95', 'win95c', 'windows95', 'windows 95'],
    product: 'Windows 95 OSR 2.5', family: 'client', edition: 'OSR 2.5', ...NINE_X, acpiPowerButton: false, minRamBytes: 256 * MiB, minDiskBytes: 100 * MiB,
    routes: [mirror('Win95_OSR25.iso', 618229760, '493212b2a3cd391269e55a8fde5ee0a35e29ddece4b5910ec49df69ab62f5e26')],
  }),
];
