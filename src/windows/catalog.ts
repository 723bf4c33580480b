/**
 * The Windows catalog: every VERSION key windock knows, as data. Each entry says what it is
 * (product, family, architecture, edition chosen from the media), what it needs (RAM, disk,
 * firmware, machine, devices) and where its ISO comes from, as routes tried in order. Code
 * elsewhere reads these rows; no version has a code path of its own. The rows are in
 * catalog-modern.ts (Windows 8.1 and later, Server 2008 R2 and later) and catalog-legacy.ts.
 *
 * Sources: keys and aliases follow dockur/windows `parseVersion` (src/define.sh) so that compose
 * files keep working; minimum RAM/disk follow dockur's `getRequiredMemory`/`getRequiredDisk`
 * (Microsoft's published requirements where they are higher); static URLs with size and SHA-256
 * are Microsoft-hosted files whose digests appear paired with the same URL in public build recipes
 * (dockur/windows src/define.sh `getMido`). Mirror routes name a file and its pinned digest only:
 * the mirror's address is the user's MIRRORS setting, never written here.
 */
import { AppError } from '../core/errors.js';
import type { DiskBus, NicModel } from '../qemu/vm-spec.js';
import { LEGACY_CATALOG } from './catalog-legacy.js';
import { MODERN_CATALOG } from './catalog-modern.js';

/**
 * Where an ISO can come from. media-sources.ts orders them: the live Microsoft flows first, then
 * static links, the ESD catalog, mirrors (catalog order within each kind).
 */
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
  /**
   * Microsoft's ESD catalog (products.cab behind a go.microsoft.com fwlink, linkid 2156292 for 11
   * and 841361 for 10, as the Media Creation Tool reads it; dockur/windows src/mido.sh
   * `getCatalog`): per-language install.esd files with their digests. `edition` is the catalog's
   * Edition value. An ESD is not bootable: it must be converted to an ISO first.
   */
  | { kind: 'esd'; product: 'windows11' | 'windows10'; edition: 'Professional' | 'Enterprise' }
  /** A fixed Microsoft-hosted file, only for the language it is in. */
  | { kind: 'static'; url: string; culture: string; size?: number; sha256?: string }
  /**
   * A file on a mirror the user names (MIRRORS): `file` is its path below the mirror's base. The
   * digest is required: a mirror's bytes are trusted only when they hash to what is pinned here.
   */
  | { kind: 'mirror'; file: string; culture: string; size?: number; sha256: string };

/** How Setup picks the image out of install.wim/esd (Unattend: ImageInstall/OSImage/InstallFrom/MetaData). */
export type ImageSelector = { by: 'name'; value: string } | { by: 'index'; value: number };

export type WindowsFamily = 'client' | 'server';

/** processorArchitecture of the answer file's components, and the driver folder's architecture. */
export type WindowsArch = 'amd64' | 'x86';

/**
 * How windock installs it: `xml` an Autounattend.xml on the setup image (Vista and later: hands-off);
 * `manual` the install media only, installed by hand in the viewer (2000, XP, 2003 and 9x, whose
 * Setup reads winnt.sif/msbatch.inf from its own media, which windock does not rewrite).
 */
export type InstallKind = 'xml' | 'manual';

/** The machine an old Windows can run on: q35 (AHCI, PCIe) or i440FX ("pc": PIIX IDE, PCI). */
export type MachineType = 'q35' | 'pc';

/** Which USB controller the guest gets: xhci (Windows 8 and later), uhci (USB 1.1: every Windows since 98), none (95). */
export type UsbController = 'xhci' | 'uhci' | 'none';

export interface CatalogEntry {
  /** Canonical key, e.g. "11", "2022". */
  key: string;
  aliases: readonly string[];
  product: string;
  family: WindowsFamily;
  arch: WindowsArch;
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
  install: InstallKind;
  /** Windows 11 and Server 2025: UEFI secure boot with a TPM; 8.1 to 2022 plain UEFI; older SeaBIOS. */
  bootMode: 'secure' | 'uefi' | 'legacy';
  machine: MachineType;
  usb: UsbController;
  /** Devices with the virtio drivers on the setup image, and without them. */
  devices: { withDrivers: { disk: DiskBus; nic: NicModel }; withoutDrivers: { disk: DiskBus; nic: NicModel } };
  /**
   * CPU features taken away (`-cpu ...,<flag>`): 32-bit Windows before 8 may take a PAE/NX path it
   * cannot finish, and long mode makes the firmware place PCI windows above 4 GB (dockur legacy.sh).
   */
  cpuFlags: readonly string[];
  /**
   * Extra `-global` settings: the 64-bit PCI hole of q35 since QEMU 2.11 makes older ACPI stacks
   * (XP, 7 x86 ...) stop with a blue screen (dockur legacy.sh), so they keep the old layout.
   */
  globals: readonly string[];
  /** Whether the ACPI power button shuts it down (Windows 95 has no ACPI: docker stop ends in a hard stop). */
  acpiPowerButton: boolean;
  /** Folder of this Windows in the virtio-win driver tree (`<driver>/<os>/<arch>/`); undefined: none. */
  virtioOs: string | undefined;
  routes: readonly MediaRoute[];
  /**
   * Setup goes on reading its CD after the first boot from the disk (2000, XP, 2003: GUI-mode
   * setup copies from the CD's I386 folder; 9x: hardware setup after the first reboot asks for the
   * CD): the install CD stays attached, behind the disk, once Windows counts as installed
   * (install-state.ts). Unset: the CD is detached.
   */
  readsMediaAfterDiskBoot?: true;
}

export const CATALOG: readonly CatalogEntry[] = [...MODERN_CATALOG, ...LEGACY_CATALOG];

/** Whether windock installs this entry without a person: an answer file and somewhere to get the media from. */
export function installsHandsOff(entry: CatalogEntry): boolean {
  return entry.install === 'xml';
}
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
