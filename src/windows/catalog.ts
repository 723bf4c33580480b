/**
 * The Windows catalog: every VERSION key windock knows, as data. Each entry says what it is
 * (product, family, edition chosen from the media), what it needs (RAM, disk, firmware, devices)
 * and where its ISO comes from, as routes tried in order. Code elsewhere reads these rows; no
 * version has a code path of its own.
 *
 * Sources: keys and aliases follow dockur/windows `parseVersion` (src/define.sh) so that compose
 * files keep working; minimum RAM/disk are Microsoft's published system requirements; static
 * URLs with size and SHA-256 are Microsoft-hosted Evaluation Center files whose digests appear
 * paired with the same URL in public build recipes (dockur/windows src/define.sh `getMido`, packer
 * templates). Where no such pairing was found, size and digest are left undefined rather than
 * guessed.
 */
import { AppError } from '../core/errors.js';
import type { DiskBus, NicModel } from '../qemu/vm-spec.js';

const GiB = 2 ** 30;
const GB = 1e9;

/** Where an ISO can come from, tried in the order listed. */
export type MediaRoute =
  /**
   * Microsoft's consumer download flow (the API behind microsoft.com/software-download/<page>):
   * session → SKU list → per-language link. Any language of LANGUAGES.skuNames.
   */
  | { kind: 'consumer'; page: 'windows11' | 'windows10ISO' }
  /**
   * An Evaluation Center page (microsoft.com/<culture>/evalcenter/download-<page>) lists fwlinks
   * per culture; `linkIndex` picks one of the links for the language (0-based, in page order).
   */
  | { kind: 'evalcenter'; page: string; linkIndex: number }
  /** A fixed Microsoft-hosted file, only for the language it is in. */
  | { kind: 'static'; url: string; culture: string; size?: number; sha256?: string };

/** How Setup picks the image out of install.wim/esd (Unattend: ImageInstall/OSImage/InstallFrom/MetaData). */
export type ImageSelector = { by: 'name'; value: string } | { by: 'index'; value: number };

export type WindowsFamily = 'client' | 'server';

export interface CatalogEntry {
  /** Canonical key, e.g. "11", "2022". */
  key: string;
  aliases: readonly string[];
  product: string;
  family: WindowsFamily;
  /** Name of the edition installed by default, for messages ("Pro", "Standard"). */
  edition: string;
  /** What Setup selects from the media when EDITION is not set. */
  image: ImageSelector;
  /**
   * How an EDITION name becomes an image name on this media ("Education" → "Windows 11
   * Education"); undefined when the media holds one edition only (evaluation media).
   */
  imageNameFor: ((edition: string) => string) | undefined;
  /**
   * Generic install keys per edition (install only, they never activate): what Setup needs to
   * pick an edition from consumer multi-edition media without asking. Evaluation media take none.
   */
  genericKeys: Readonly<Record<string, string>>;
  minRamBytes: number;
  minDiskBytes: number;
  /** Windows 11 and Server 2025: UEFI secure boot with a TPM; the others plain UEFI. */
  bootMode: 'secure' | 'uefi';
  /** Devices with the virtio drivers on the setup image, and without them. */
  devices: { withDrivers: { disk: DiskBus; nic: NicModel }; withoutDrivers: { disk: DiskBus; nic: NicModel } };
  /** Folder of this Windows in the virtio-win driver tree (`<driver>/<os>/amd64/`). */
  virtioOs: string;
  routes: readonly MediaRoute[];
}

const VIRTIO_OR_INBOX = {
  withDrivers: { disk: 'scsi', nic: 'virtio-net-pci' },
  // Without drivers Windows Setup must see the disk with inbox drivers (storahci) and the NIC
  // with its inbox e1000e driver.
  withoutDrivers: { disk: 'sata', nic: 'e1000e' },
} as const;

const clientName = (version: string) => (edition: string) => `Windows ${version} ${edition}`;

/** Server images are named e.g. "Windows Server 2022 SERVERSTANDARD" (Core: "...CORE") in install.wim. */
const serverName = (year: string) => (edition: string) => {
  const words = edition.trim().toLowerCase().split(/\s+/);
  const core = words.includes('core');
  const base = words.filter((w) => w !== 'core' && w !== 'server').join('');
  return `Windows Server ${year} SERVER${base.toUpperCase()}${core ? 'CORE' : ''}`;
};

// Generic keys from Microsoft's OEM/volume documentation, as used by public answer-file
// generators (e.g. cschneegans/unattend-generator). They select an edition; they do not activate.
const CLIENT_GENERIC_KEYS = {
  Home: 'YTMG3-N6DKC-DKB77-7M9GH-8HVX7',
  Pro: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T',
  Education: 'YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY',
} as const;

const STATIC = 'https://software-static.download.prss.microsoft.com';

export const CATALOG: readonly CatalogEntry[] = [
  {
    key: '11',
    aliases: ['11p', 'win11', 'win11p', 'windows11', 'windows 11', 'win11x64'],
    product: 'Windows 11 Pro',
    family: 'client',
    edition: 'Pro',
    image: { by: 'name', value: 'Windows 11 Pro' },
    imageNameFor: clientName('11'),
    genericKeys: CLIENT_GENERIC_KEYS,
    minRamBytes: 4 * GiB,
    minDiskBytes: 64 * GB,
    bootMode: 'secure',
    devices: VIRTIO_OR_INBOX,
    virtioOs: 'w11',
    routes: [{ kind: 'consumer', page: 'windows11' }],
  },
  {
    key: '11e',
    aliases: ['win11e', 'windows11e', 'windows 11e', 'win11x64-enterprise-eval'],
    product: 'Windows 11 Enterprise (Evaluation)',
    family: 'client',
    edition: 'Enterprise',
    image: { by: 'index', value: 1 },
    imageNameFor: undefined,
    genericKeys: {},
    minRamBytes: 4 * GiB,
    minDiskBytes: 64 * GB,
    bootMode: 'secure',
    devices: VIRTIO_OR_INBOX,
    virtioOs: 'w11',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: `${STATIC}/dbazure/888969d5-f34g-4e03-ac9d-1f9786c66749/26100.1742.240906-0331.ge_release_svc_refresh_CLIENTENTERPRISEEVAL_OEMRET_x64FRE_en-us.iso`,
        sha256: '755a90d43e826a74b9e1932a34788b898e028272439b777e5593dee8d53622ae',
      },
      { kind: 'evalcenter', page: 'windows-11-enterprise', linkIndex: 1 },
    ],
  },
  {
    key: '11l',
    aliases: ['ltsc11', '11ltsc', 'win11-ltsc', 'win11x64-ltsc', 'win11x64-enterprise-ltsc-eval', 'iot11', '11iot'],
    product: 'Windows 11 IoT Enterprise LTSC (Evaluation)',
    family: 'client',
    edition: 'IoT Enterprise LTSC',
    image: { by: 'index', value: 1 },
    imageNameFor: undefined,
    genericKeys: {},
    minRamBytes: 4 * GiB,
    minDiskBytes: 64 * GB,
    bootMode: 'secure',
    devices: VIRTIO_OR_INBOX,
    virtioOs: 'w11',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: `${STATIC}/dbazure/888969d5-f34g-4e03-ac9d-1f9786c66749/26100.1.240331-1435.ge_release_CLIENT_IOT_LTSC_EVAL_x64FRE_en-us.iso`,
        size: 5060020224,
        sha256: '2cee70bd183df42b92a2e0da08cc2bb7a2a9ce3a3841955a012c0f77aeb3cb29',
      },
      { kind: 'evalcenter', page: 'windows-11-iot-enterprise-ltsc-eval', linkIndex: 0 },
    ],
  },
  {
    key: '10',
    aliases: ['10p', 'win10', 'win10p', 'windows10', 'windows 10', 'win10x64'],
    product: 'Windows 10 Pro',
    family: 'client',
    edition: 'Pro',
    image: { by: 'name', value: 'Windows 10 Pro' },
    imageNameFor: clientName('10'),
    genericKeys: CLIENT_GENERIC_KEYS,
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'uefi',
    devices: VIRTIO_OR_INBOX,
    virtioOs: 'w10',
    routes: [{ kind: 'consumer', page: 'windows10ISO' }],
  },
  {
    key: '10e',
    aliases: ['win10e', 'windows10e', 'windows 10e', 'win10x64-enterprise-eval'],
    product: 'Windows 10 Enterprise (Evaluation)',
    family: 'client',
    edition: 'Enterprise',
    image: { by: 'index', value: 1 },
    imageNameFor: undefined,
    genericKeys: {},
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'uefi',
    devices: VIRTIO_OR_INBOX,
    virtioOs: 'w10',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: `${STATIC}/dbazure/988969d5-f34g-4e03-ac9d-1f9786c66750/19045.2006.220908-0225.22h2_release_svc_refresh_CLIENTENTERPRISEEVAL_OEMRET_x64FRE_en-us.iso`,
        size: 5550497792,
        sha256: 'ef7312733a9f5d7d51cfa04ac497671995674ca5e1058d5164d6028f0938d668',
      },
      { kind: 'evalcenter', page: 'windows-10-enterprise', linkIndex: 1 },
    ],
  },
  {
    key: '10l',
    aliases: ['ltsc10', '10ltsc', 'win10-ltsc', 'win10x64-ltsc', 'win10x64-enterprise-ltsc-eval'],
    product: 'Windows 10 Enterprise LTSC (Evaluation)',
    family: 'client',
    edition: 'Enterprise LTSC',
    image: { by: 'index', value: 1 },
    imageNameFor: undefined,
    genericKeys: {},
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'uefi',
    devices: VIRTIO_OR_INBOX,
    virtioOs: 'w10',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: 'https://software-download.microsoft.com/download/pr/19044.1288.211006-0501.21h2_release_svc_refresh_CLIENT_LTSC_EVAL_x64FRE_en-us.iso',
        size: 4898582528,
        sha256: 'e4ab2e3535be5748252a8d5d57539a6e59be8d6726345ee10e7afd2cb89fefb5',
      },
      { kind: 'evalcenter', page: 'windows-10-enterprise', linkIndex: 3 },
    ],
  },
  {
    key: '2025',
    aliases: ['25', 'win25', 'win2025', 'windows2025', 'windows 2025', 'win2025-eval'],
    product: 'Windows Server 2025 Standard (Evaluation)',
    family: 'server',
    edition: 'Standard',
    image: { by: 'name', value: 'Windows Server 2025 SERVERSTANDARD' },
    imageNameFor: serverName('2025'),
    genericKeys: {},
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'secure',
    devices: VIRTIO_OR_INBOX,
    virtioOs: '2k25',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: `${STATIC}/dbazure/888969d5-f34g-4e03-ac9d-1f9786c66749/26100.1742.240906-0331.ge_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso`,
        size: 6014152704,
        sha256: 'd0ef4502e350e3c6c53c15b1b3020d38a5ded011bf04998e950720ac8579b23d',
      },
      { kind: 'evalcenter', page: 'windows-server-2025', linkIndex: 0 },
    ],
  },
  {
    key: '2022',
    aliases: ['22', 'win22', 'win2022', 'windows2022', 'windows 2022', 'win2022-eval'],
    product: 'Windows Server 2022 Standard (Evaluation)',
    family: 'server',
    edition: 'Standard',
    image: { by: 'name', value: 'Windows Server 2022 SERVERSTANDARD' },
    imageNameFor: serverName('2022'),
    genericKeys: {},
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'uefi',
    devices: VIRTIO_OR_INBOX,
    virtioOs: '2k22',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: `${STATIC}/sg/download/888969d5-f34g-4e03-ac9d-1f9786c66749/SERVER_EVAL_x64FRE_en-us.iso`,
        size: 5044094976,
        sha256: '3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325',
      },
      { kind: 'evalcenter', page: 'windows-server-2022', linkIndex: 0 },
    ],
  },
  {
    key: '2019',
    aliases: ['19', 'win19', 'win2019', 'windows2019', 'windows 2019', 'win2019-eval'],
    product: 'Windows Server 2019 Standard (Evaluation)',
    family: 'server',
    edition: 'Standard',
    image: { by: 'name', value: 'Windows Server 2019 SERVERSTANDARD' },
    imageNameFor: serverName('2019'),
    genericKeys: {},
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'uefi',
    devices: VIRTIO_OR_INBOX,
    virtioOs: '2k19',
    routes: [
      // Public recipes disagree on this file's digest, so none is pinned.
      {
        kind: 'static',
        culture: 'en-US',
        url: `${STATIC}/dbazure/988969d5-f34g-4e03-ac9d-1f9786c66749/17763.3650.221105-1748.rs5_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso`,
      },
      { kind: 'evalcenter', page: 'windows-server-2019', linkIndex: 0 },
    ],
  },
  {
    key: '2016',
    aliases: ['16', 'win16', 'win2016', 'windows2016', 'windows 2016', 'win2016-eval'],
    product: 'Windows Server 2016 Standard (Evaluation)',
    family: 'server',
    edition: 'Standard',
    image: { by: 'name', value: 'Windows Server 2016 SERVERSTANDARD' },
    imageNameFor: serverName('2016'),
    genericKeys: {},
    minRamBytes: 2 * GiB,
    minDiskBytes: 32 * GB,
    bootMode: 'uefi',
    devices: VIRTIO_OR_INBOX,
    virtioOs: '2k16',
    routes: [
      {
        kind: 'static',
        culture: 'en-US',
        url: 'https://software-download.microsoft.com/download/pr/Windows_Server_2016_Datacenter_EVAL_en-us_14393_refresh.ISO',
        size: 6972221440,
        sha256: '1ce702a578a3cb1ac3d14873980838590f06d5b7101c5daaccbac9d73f1fb50f',
      },
      { kind: 'evalcenter', page: 'windows-server-2016', linkIndex: 0 },
    ],
  },
];

/** What VERSION resolved to: a catalog entry, or an ISO URL given directly. */
export type ResolvedVersion = { kind: 'catalog'; entry: CatalogEntry } | { kind: 'url'; url: string };

/** All keys and aliases, for messages and tests. */
export function catalogKeys(): string[] {
  return CATALOG.flatMap((e) => [e.key, ...e.aliases]);
}

/**
 * VERSION → a catalog entry (key or alias, any case, optional surrounding quotes as compose files
 * sometimes carry them) or a URL passed through. Anything else is a config error (exit 2).
 */
export function resolveVersion(raw: string): ResolvedVersion {
  let text = raw.trim();
  if (/^(["']).*\1$/.test(text)) text = text.slice(1, -1).trim();
  if (/^https?:\/\//i.test(text)) return { kind: 'url', url: text };
  const wanted = text.toLowerCase();
  const entry = CATALOG.find((e) => e.key === wanted || e.aliases.includes(wanted));
  if (entry) return { kind: 'catalog', entry };
  throw new AppError('config', `VERSION must be a Windows version key or the URL of an ISO, got ${JSON.stringify(raw)}`, {
    hint: `Valid keys: ${CATALOG.map((e) => `${e.key} (${e.product})`).join(', ')}. Aliases such as win11, win10, ltsc11 work too.`,
    details: { variable: 'VERSION', value: raw, expected: CATALOG.map((e) => e.key) },
  });
}

/**
 * The image Setup installs: EDITION (a name such as "Education" or "Datacenter Core", a full
 * image name starting with "Windows", or an image index) or the entry's default.
 */
export function selectImage(entry: CatalogEntry, edition: string | undefined): ImageSelector {
  if (edition === undefined || edition.trim() === '') return entry.image;
  const text = edition.trim();
  if (/^\d+$/.test(text)) return { by: 'index', value: Number(text) };
  if (/^windows\s/i.test(text)) return { by: 'name', value: text };
  if (!entry.imageNameFor) {
    throw new AppError('config', `EDITION=${JSON.stringify(edition)} cannot be chosen for VERSION=${entry.key}: ${entry.product} media holds one edition`, {
      hint: 'Leave EDITION unset, give the full image name ("Windows ...") or an image index, or pick another VERSION.',
      details: { variable: 'EDITION', value: edition },
    });
  }
  return { by: 'name', value: entry.imageNameFor(text) };
}

/** The generic install key for the selected edition of consumer media, when one is known. */
export function genericKeyFor(entry: CatalogEntry, edition: string | undefined): string | undefined {
  const name = edition?.trim() || entry.edition;
  const match = Object.entries(entry.genericKeys).find(([k]) => k.toLowerCase() === name.toLowerCase());
  return match?.[1];
}
