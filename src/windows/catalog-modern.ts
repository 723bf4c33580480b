/**
 * Catalog rows for Windows 8.1 and later and Server 2008 R2 and later: Autounattend.xml installs,
 * UEFI (secure boot with a TPM for 11 and 2025), virtio devices when the drivers are bundled.
 * Facts (keys, aliases, URLs, sizes, digests, Evaluation Center pages) are dockur/windows'
 * (src/define.sh `parseVersion`, `getMido`, `getLink*`; src/mido.sh `download_windows_eval`).
 */
import type { CatalogEntry, MediaRoute } from './catalog.js';

const GiB = 2 ** 30;

export const VIRTIO_OR_INBOX = {
  withDrivers: { disk: 'scsi', nic: 'virtio-net-pci' },
  // Without drivers Windows Setup must see the disk with inbox drivers (storahci) and the NIC
  // with its inbox e1000e driver.
  withoutDrivers: { disk: 'sata', nic: 'e1000e' },
} as const;

const clientName = (version: string) => (edition: string) => `Windows ${version} ${edition}`;

/** Server images are named e.g. "Windows Server 2022 SERVERSTANDARD" (Core: "...CORE") in install.wim. */
export const serverName = (year: string) => (edition: string) => {
  const words = edition.trim().toLowerCase().split(/\s+/);
  const core = words.includes('core');
  const base = words.filter((w) => w !== 'core' && w !== 'server').join('') || 'standard';
  return `Windows Server ${year} SERVER${base.toUpperCase()}${core ? 'CORE' : ''}`;
};

// Generic keys from Microsoft's OEM/volume documentation, as used by public answer-file
// generators (e.g. cschneegans/unattend-generator). They select an edition; they do not activate.
const CLIENT_GENERIC_KEYS = {
  Home: 'YTMG3-N6DKC-DKB77-7M9GH-8HVX7',
  Pro: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T',
  Education: 'YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY',
} as const;

const STATIC = 'https://software-static.download.prss.microsoft.com/dbazure';
const PR = 'https://software-download.microsoft.com/download/pr';
const DL = 'https://download.microsoft.com/download';

const en = (url: string, size: number, sha256: string): MediaRoute => ({ kind: 'static', culture: 'en-US', url, size, sha256 });
const mirror = (file: string, size: number, sha256: string): MediaRoute => ({ kind: 'mirror', culture: 'en-US', file, size, sha256 });

type Row = Pick<CatalogEntry, 'key' | 'aliases' | 'product' | 'family' | 'edition' | 'image' | 'minRamBytes' | 'minDiskBytes' | 'virtioOs' | 'routes'> &
  Partial<CatalogEntry>;

/** The defaults every modern row shares; a row states only what differs. */
function modern(row: Row): CatalogEntry {
  return {
    arch: 'amd64',
    imageNameFor: undefined,
    genericKeys: {},
    install: 'xml',
    bootMode: 'uefi',
    machine: 'q35',
    usb: 'xhci',
    devices: VIRTIO_OR_INBOX,
    cpuFlags: [],
    globals: [],
    acpiPowerButton: true,
    ...row,
  };
}

const evaluation = { image: { by: 'index', value: 1 } as const, imageNameFor: undefined, genericKeys: {} };
const consumer = (version: string) => ({ image: { by: 'name', value: `Windows ${version} Pro` } as const, imageNameFor: clientName(version), genericKeys: CLIENT_GENERIC_KEYS });
const server = (year: string, image?: string) => ({ image: { by: 'name', value: image ?? `Windows Server ${year} SERVERSTANDARD` } as const, imageNameFor: serverName(year) });

const W11_LTSC_OEM = mirror('X23-81951_26100.1742.240906-0331.ge_release_svc_refresh_CLIENT_ENTERPRISES_OEM_x64FRE_en-us.iso', 5144817664, '4f59662a96fc1da48c1b415d6c369d08af55ddd64e8f1c84e0166d9e50405d7a');
const W10_LTSC = mirror('en-us_windows_10_enterprise_ltsc_2021_x64_dvd_d289cf96.iso', 4899461120, 'c90a6df8997bf49e56b9673982f3e80745058723a707aef8f22998ae6479597d');

export const MODERN_CATALOG: readonly CatalogEntry[] = [
  modern({
    key: '11', aliases: ['11p', 'win11', 'pro11', 'win11p', 'windows11', 'windows 11', 'win11x64'],
    product: 'Windows 11 Pro', family: 'client', edition: 'Pro', ...consumer('11'),
    minRamBytes: 4 * GiB, minDiskBytes: 64e9, bootMode: 'secure', virtioOs: 'w11',
    routes: [
      { kind: 'consumer', page: 'windows11' },
      { kind: 'esd', product: 'windows11', edition: 'Professional' },
      en(`${STATIC}/888969d5-f34g-4e03-ac9d-1f9786c66749/26200.6584.250915-1905.25h2_ge_release_svc_refresh_CLIENT_CONSUMER_x64FRE_en-us.iso`, 7736125440, 'd141f6030fed50f75e2b03e1eb2e53646c4b21e5386047cb860af5223f102a32'),
      mirror('en-us_windows_11_25h2_x64.iso', 6927149056, 'f5ffe9313eebc6299fba9e6eeb2971007264e6c6be013073a89b5ae9bd85bfb3'),
    ],
  }),
  modern({
    key: '11e', aliases: ['win11e', 'windows11e', 'windows 11e', 'win11x64-enterprise-eval'],
    product: 'Windows 11 Enterprise (Evaluation)', family: 'client', edition: 'Enterprise', ...evaluation,
    minRamBytes: 4 * GiB, minDiskBytes: 64e9, bootMode: 'secure', virtioOs: 'w11',
    routes: [
      en(`${STATIC}/888969d5-f34g-4e03-ac9d-1f9786c66749/26200.6584.250915-1905.25h2_ge_release_svc_refresh_CLIENTENTERPRISEEVAL_OEMRET_x64FRE_en-us.iso`, 7092807680, 'a61adeab895ef5a4db436e0a7011c92a2ff17bb0357f58b13bbc4062e535e7b9'),
      { kind: 'evalcenter', page: 'windows-11-enterprise', linkIndex: 0 },
      // dockur/windows src/mido.sh `getCatalog`: the Enterprise ESD stands in for the evaluation.
      { kind: 'esd', product: 'windows11', edition: 'Enterprise' },
    ],
  }),
  modern({
    key: '11l', aliases: ['11ltsc', 'ltsc11', 'win11l', 'win11-ltsc', 'win11x64-ltsc', 'win11x64-enterprise-ltsc-eval'],
    product: 'Windows 11 Enterprise LTSC (Evaluation)', family: 'client', edition: 'Enterprise LTSC', ...evaluation,
    minRamBytes: 4 * GiB, minDiskBytes: 64e9, bootMode: 'secure', virtioOs: 'w11',
    routes: [
      en(`${STATIC}/888969d5-f34g-4e03-ac9d-1f9786c66749/26100.1742.240906-0331.ge_release_svc_refresh_CLIENT_LTSC_EVAL_x64FRE_en-us.iso`, 5112850432, '67cec5865eaa037a72ddc633a717a10a2bed50778862267223ddb9c60ef5da68'),
      { kind: 'evalcenter', page: 'windows-11-enterprise', linkIndex: 1 },
      W11_LTSC_OEM,
    ],
  }),
  modern({
    key: '11i', aliases: ['11iot', 'iot11', 'win11i', 'win11-iot', 'win11x64-iot', 'win11x64-enterprise-iot-eval'],
    product: 'Windows 11 IoT Enterprise LTSC (Evaluation)', family: 'client', edition: 'IoT Enterprise LTSC', ...evaluation,
    minRamBytes: 4 * GiB, minDiskBytes: 64e9, bootMode: 'secure', virtioOs: 'w11',
    routes: [
      en(`${STATIC}/998969d5-f34g-4e03-ac9d-1f9786c66749/26100.1742.240906-0331.ge_release_svc_refresh_CLIENT_IOT_LTSC_EVAL_x64FRE_en-us.iso`, 5060020224, '2cee70bd183df42b92a2e0da08cc2bb7a2a9ce3a3841955a012c0f77aeb3cb29'),
      { kind: 'evalcenter', page: 'windows-11-iot-enterprise-ltsc-eval', linkIndex: 0 },
      W11_LTSC_OEM,
    ],
  }),
  modern({
    key: '10', aliases: ['10p', 'win10', 'pro10', 'win10p', 'windows10', 'windows 10', 'win10x64'],
    product: 'Windows 10 Pro', family: 'client', edition: 'Pro', ...consumer('10'),
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: 'w10',
    routes: [
      { kind: 'consumer', page: 'windows10ISO' },
      { kind: 'esd', product: 'windows10', edition: 'Professional' },
      mirror('Win10_22H2_English_x64v1.iso', 6140975104, 'a6f470ca6d331eb353b815c043e327a347f594f37ff525f17764738fe812852e'),
      mirror('en-us_windows_10_22h2_x64.iso', 5723299840, '316f718f21fc9b386d81dadd62dc60268a1cfd65b184ac6a052875a454c3431b'),
    ],
  }),
  modern({
    key: '10e', aliases: ['win10e', 'windows10e', 'windows 10e', 'win10x64-enterprise-eval'],
    product: 'Windows 10 Enterprise (Evaluation)', family: 'client', edition: 'Enterprise', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: 'w10',
    routes: [
      en(`${STATIC}/988969d5-f34g-4e03-ac9d-1f9786c66750/19045.2006.220908-0225.22h2_release_svc_refresh_CLIENTENTERPRISEEVAL_OEMRET_x64FRE_en-us.iso`, 5550497792, 'ef7312733a9f5d7d51cfa04ac497671995674ca5e1058d5164d6028f0938d668'),
      { kind: 'evalcenter', page: 'windows-10-enterprise', linkIndex: 1 },
      { kind: 'esd', product: 'windows10', edition: 'Enterprise' },
    ],
  }),
  modern({
    key: '10l', aliases: ['10ltsc', 'ltsc10', 'win10l', 'win10-ltsc', 'win10x64-ltsc', 'win10x64-enterprise-ltsc-eval'],
    product: 'Windows 10 Enterprise LTSC (Evaluation)', family: 'client', edition: 'Enterprise LTSC', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: 'w10',
    routes: [
      en(`${PR}/19044.1288.211006-0501.21h2_release_svc_refresh_CLIENT_LTSC_EVAL_x64FRE_en-us.iso`, 4898582528, 'e4ab2e3535be5748252a8d5d57539a6e59be8d6726345ee10e7afd2cb89fefb5'),
      { kind: 'evalcenter', page: 'windows-10-enterprise', linkIndex: 3 },
      W10_LTSC,
    ],
  }),
  modern({
    key: '10i', aliases: ['10iot', 'iot10', 'win10i', 'win10-iot', 'win10x64-iot', 'win10x64-enterprise-iot-eval'],
    product: 'Windows 10 IoT Enterprise LTSC', family: 'client', edition: 'IoT Enterprise LTSC', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: 'w10',
    // Microsoft publishes no Windows 10 IoT evaluation: only a mirror holds it.
    routes: [mirror('en-us_windows_10_iot_enterprise_ltsc_2021_x64_dvd_257ad90f.iso', 4851668992, 'a0334f31ea7a3e6932b9ad7206608248f0bd40698bfb8fc65f14fc5e4976c160')],
  }),
  modern({
    key: '8', aliases: ['8p', '81', '81p', 'pro8', '8.1', 'win8', 'win8p', 'win81', 'win81p', 'windows 8'],
    product: 'Windows 8.1 Pro', family: 'client', edition: 'Pro', ...consumer('8.1'),
    genericKeys: { Pro: 'GCRJD-8NW9H-F2CDX-CCM8D-9D6T9', Core: '334NH-RXG76-64THK-C7CKG-D3VPT' },
    minRamBytes: 2 * GiB, minDiskBytes: 16e9, virtioOs: 'w8.1',
    routes: [mirror('en_windows_8.1_with_update_x64_dvd_6051480.iso', 4320526336, 'd8333cf427eb3318ff6ab755eb1dd9d433f0e2ae43745312c1cd23e83ca1ce51')],
  }),
  modern({
    key: '8e', aliases: ['81e', '8.1e', 'win8e', 'win81e', 'windows 8e', 'win81x64-enterprise-eval'],
    product: 'Windows 8.1 Enterprise (Evaluation)', family: 'client', edition: 'Enterprise', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 16e9, virtioOs: 'w8.1',
    routes: [
      en(`${DL}/B/9/9/B999286E-0A47-406D-8B3D-5B5AD7373A4A/9600.17050.WINBLUE_REFRESH.140317-1640_X64FRE_ENTERPRISE_EVAL_EN-US-IR3_CENA_X64FREE_EN-US_DV9.ISO`, 3961473024, '2dedd44c45646c74efc5a028f65336027e14a56f76686a4631cf94ffe37c72f2'),
      mirror('en_windows_8.1_enterprise_with_update_x64_dvd_6054382.iso', 4139163648, 'c3c604c03677504e8905090a8ce5bb1dde76b6fd58e10f32e3a25bef21b2abe1'),
    ],
  }),
  modern({
    key: '2025', aliases: ['25', 'win25', 'win2025', 'windows2025', 'windows 2025', 'win2025-eval'],
    product: 'Windows Server 2025 Standard (Evaluation)', family: 'server', edition: 'Standard', ...server('2025'),
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, bootMode: 'secure', virtioOs: '2k25',
    routes: [
      en(`${STATIC}/998969d5-f34g-4e03-ac9d-1f9786c66749/26100.32230.260111-0550.lt_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso`, 8152356864, '7b052573ba7894c9924e3e87ba732ccd354d18cb75a883efa9b900ea125bfd51'),
      { kind: 'evalcenter', page: 'windows-server-2025', linkIndex: 0 },
    ],
  }),
  modern({
    key: '2022', aliases: ['22', 'win22', 'win2022', 'windows2022', 'windows 2022', 'win2022-eval'],
    product: 'Windows Server 2022 Standard (Evaluation)', family: 'server', edition: 'Standard', ...server('2022'),
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: '2k22',
    routes: [
      en('https://software-static.download.prss.microsoft.com/sg/download/888969d5-f34g-4e03-ac9d-1f9786c66749/SERVER_EVAL_x64FRE_en-us.iso', 5044094976, '3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325'),
      { kind: 'evalcenter', page: 'windows-server-2022', linkIndex: 0 },
    ],
  }),
  modern({
    key: '2019', aliases: ['19', 'win19', 'win2019', 'windows2019', 'windows 2019', 'win2019-eval'],
    product: 'Windows Server 2019 Standard (Evaluation)', family: 'server', edition: 'Standard', ...server('2019'),
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: '2k19',
    routes: [
      en(`${PR}/17763.737.190906-2324.rs5_release_svc_refresh_SERVER_EVAL_x64FRE_en-us_1.iso`, 5296713728, '549bca46c055157291be6c22a3aaaed8330e78ef4382c99ee82c896426a1cee1'),
      { kind: 'evalcenter', page: 'windows-server-2019', linkIndex: 0 },
    ],
  }),
  modern({
    key: '2016', aliases: ['16', 'win16', 'win2016', 'windows2016', 'windows 2016', 'win2016-eval'],
    product: 'Windows Server 2016 Standard (Evaluation)', family: 'server', edition: 'Standard', ...server('2016'),
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: '2k16',
    routes: [
      en(`${PR}/Windows_Server_2016_Datacenter_EVAL_en-us_14393_refresh.ISO`, 6972221440, '1ce702a578a3cb1ac3d14873980838590f06d5b7101c5daaccbac9d73f1fb50f'),
      { kind: 'evalcenter', page: 'windows-server-2016', linkIndex: 0 },
    ],
  }),
  modern({
    key: 'hv', aliases: ['hyperv', 'hyper v', 'hyper-v', '19hv', '2019hv', 'win2019hv', 'win2019-hv'],
    product: 'Hyper-V Server 2019', family: 'server', edition: 'Hyper-V', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 32e9, virtioOs: '2k19',
    routes: [
      en(`${PR}/17763.557.190612-0019.rs5_release_svc_refresh_SERVERHYPERCORE_OEM_x64FRE_en-us.ISO`, 3022784512, 'cb28984af65ba1085cd6ade5fdd3d9c75efe7618846513f9ad44f1397a409f85'),
      { kind: 'evalcenter', page: 'hyper-v-server-2019', linkIndex: 0 },
    ],
  }),
  modern({
    key: '2012', aliases: ['2012r2', 'win2012', 'win2012r2', 'windows2012', 'windows 2012', 'win2012r2-eval'],
    product: 'Windows Server 2012 R2 Standard (Evaluation)', family: 'server', edition: 'Standard', ...server('2012', 'Windows Server 2012 R2 SERVERSTANDARD'),
    imageNameFor: (edition) => serverName('2012')(edition).replace('2012', '2012 R2'),
    minRamBytes: 1 * GiB, minDiskBytes: 32e9, virtioOs: '2k12R2',
    routes: [
      en(`${DL}/6/2/A/62A76ABB-9990-4EFC-A4FE-C7D698DAEB96/9600.17050.WINBLUE_REFRESH.140317-1640_X64FRE_SERVER_EVAL_EN-US-IR3_SSS_X64FREE_EN-US_DV9.ISO`, 4542291968, '6612b5b1f53e845aacdf96e974bb119a3d9b4dcb5b82e65804ab7e534dc7b4d5'),
      { kind: 'evalcenter', page: 'windows-server-2012-r2', linkIndex: 0 },
      mirror('en_windows_server_2012_r2_with_update_x64_dvd_6052708.iso', 5397889024, 'f351e89eb88a96af4626ceb3450248b8573e3ed5924a4e19ea891e6003b62e4e'),
    ],
  }),
  modern({
    key: '2008', aliases: ['2008r2', '2k8', 'win2008', 'win2008r2', 'windows2008', 'windows 2008', 'win2008r2-eval'],
    product: 'Windows Server 2008 R2 Standard (Evaluation)', family: 'server', edition: 'Standard', ...server('2008', 'Windows Server 2008 R2 SERVERSTANDARD'),
    imageNameFor: (edition) => serverName('2008')(edition).replace('2008', '2008 R2'),
    // 2008 R2 predates UEFI installs of Windows on OVMF and has no AHCI-less virtio path in WinPE:
    // SeaBIOS, as dockur runs it.
    bootMode: 'legacy', minRamBytes: 1 * GiB, minDiskBytes: 10e9, virtioOs: '2k8R2', usb: 'uhci',
    routes: [
      en(`${DL}/4/1/D/41DEA7E0-B30D-4012-A1E3-F24DC03BA1BB/7601.17514.101119-1850_x64fre_server_eval_en-us-GRMSXEVAL_EN_DVD.iso`, 3166840832, '30832ad76ccfa4ce48ccb936edefe02079d42fb1da32201bf9e3a880c8ed6312'),
      mirror('en_windows_server_2008_r2_with_sp1_x64_dvd_617601.iso', 3166584832, 'dfd9890881b7e832a927c38310fb415b7ea62ac5a896671f2ce2a111998f0df8'),
    ],
  }),
  modern({
    key: 'core11', aliases: ['core 11', 'tiny11core', 'tiny11 core'],
    product: 'Tiny11 Core (Windows 11, trimmed)', family: 'client', edition: 'Pro', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 4 * GiB, bootMode: 'secure', virtioOs: 'w11',
    routes: [mirror('tiny11core_25H2_Nov25.iso', 3304132608, 'c0e0252b24144b8defb6c7ded2bc09f9297daf1fb8369b16c5b85382331eb47f')],
  }),
  modern({
    key: 'tiny11', aliases: ['tiny 11'],
    product: 'Tiny11 (Windows 11, trimmed)', family: 'client', edition: 'Pro', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 8 * GiB, bootMode: 'secure', virtioOs: 'w11',
    routes: [mirror('tiny11_25H2_Nov25.iso', 5730246656, '7b24815845684add7250808b3b0027ba4e94cf52c62e9ef40d5b965dd304d6ca')],
  }),
  modern({
    key: 'tiny10', aliases: ['tiny 10'],
    product: 'Tiny10 (Windows 10 LTSC, trimmed)', family: 'client', edition: 'Enterprise LTSC', ...evaluation,
    minRamBytes: 2 * GiB, minDiskBytes: 10 * GiB, virtioOs: 'w10',
    routes: [mirror('tiny10%20x64%2023h2.iso', 3839819776, 'a11116c0645d892d6a5a7c585ecc1fa13aa66f8c7cc6b03bf1f27bd16860cc35')],
  }),
];
