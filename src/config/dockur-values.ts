/**
 * Parsers for the values dockur/windows and qemus/qemu accept that windock's plain parsers do
 * not: RAM_SIZE as a bare number or `half`/`max`, CPU_CORES `half`/`max`, NETWORK's and
 * BOOT_MODE's other spellings, DISK_TYPE `ide`/`usb`, and the device settings (DISK_IO,
 * DISK_CACHE, SMP, ...). The meanings are theirs (qemus/qemu src/memory.sh, init.sh, network.sh,
 * boot.sh, disk.sh, docs/environment.md); the code is windock's own. Pure: the host's capacity
 * comes in through the ParseContext.
 */
import { AppError, invalidSetting } from '../core/errors.js';
import { NO_CONTEXT, parseSize, type ParseContext, type Parser } from './parsers.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** qemus/qemu memory.sh RAM_SPARE: what `max` leaves to the container. */
const RAM_SPARE = 500_000_000;

function hostNeeded(name: string, raw: string, what: string): AppError {
  return new AppError('config', `${name}=${raw.trim()} needs the ${what} available to the container, which is unknown here`, {
    hint: `Set ${name} to a number instead.`,
    details: { variable: name },
  });
}

/** Whole MiB, rounded down, as QEMU's -m takes them. */
function wholeMiB(bytes: number): number {
  return Math.floor(bytes / MiB) * MiB;
}

/**
 * RAM_SIZE: "4G", "512M"; a bare number is GB below 130 and MB from 130 on (memory.sh:
 * `RAM_SIZE=8` is 8G, `RAM_SIZE=4096` is 4096M); `half` is half the memory available, `max` all
 * of it but a reserve for the container (memory.sh configureMaxMemory).
 */
export function ramSizeParser(min: number, minText: string): Parser<number> {
  return (raw, name, ctx = NO_CONTEXT) => {
    const text = raw.trim().toLowerCase();
    let bytes: number;
    if (text === 'half' || text === 'max') {
      const avail = ctx.host?.memoryBytes;
      if (!avail) throw hostNeeded(name, raw, 'memory');
      bytes = wholeMiB(text === 'half' ? avail / 2 : maxMemory(avail));
    } else if (/^\d+(\.\d+)?$/.test(text)) {
      const n = Number(text);
      bytes = Math.floor(n < 130 ? n * GiB : n * MiB);
    } else if (/^\d+(\.\d+)?\s*[kmgt](i?b)?$/.test(text)) {
      bytes = parseSize(raw, name);
    } else {
      throw invalidSetting(name, raw, 'a size such as "512M" or "4G", a number of GB such as "8", "half" or "max"');
    }
    if (bytes < min) throw invalidSetting(name, raw, `a size of at least ${minText}`);
    return bytes;
  };
}

function maxMemory(avail: number): number {
  if (avail < RAM_SPARE * 2) return avail / 2;
  const wanted = avail - RAM_SPARE * 3;
  return wanted < RAM_SPARE * 6 ? avail - RAM_SPARE : wanted;
}

/**
 * DISK_SIZE: a size, or dockur's `half`/`max` of the free space (disk.sh). windock sizes a disk
 * once and never by what happens to be free, so those read as the default with a warning.
 */
export function diskSizeParser(min: number, minText: string, fallback: number, fallbackText: string): Parser<number> {
  return (raw, name, ctx = NO_CONTEXT) => {
    const text = raw.trim().toLowerCase();
    if (text === 'half' || text === 'max') {
      ctx.warn(`${name}=${text}: windock does not size disks by the free space of STORAGE; a new disk gets ${fallbackText} (sparse), set a size to grow it`);
      return fallback;
    }
    const bytes = parseSize(raw, name);
    if (bytes < min) throw invalidSetting(name, raw, `a size of at least ${minText}`);
    return bytes;
  };
}

/** CPU_CORES: a count, `half` or `max` of the host's CPUs; more than the host has is limited (init.sh checkCores). */
export function parseCpuCores(raw: string, name: string, ctx: ParseContext = NO_CONTEXT): number {
  const form = 'a whole number of cores from 1 to 1024, "half" or "max"';
  const text = raw.trim().toLowerCase();
  const cpus = ctx.host?.cpus;
  if (text === 'half' || text === 'max') {
    if (!cpus) throw hostNeeded(name, raw, 'CPU count');
    return text === 'max' ? cpus : Math.max(1, Math.floor(cpus / 2));
  }
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1024) throw invalidSetting(name, raw, form);
  const cores = Number(text);
  if (cpus && cores > cpus) {
    ctx.warn(`${name}=${cores} is more than the ${cpus} CPUs available to the container; the guest gets ${cpus}`);
    return cpus;
  }
  return cores;
}

/** Every spelling maps to one of windock's values; the first spelling is windock's own. */
export function aliasParser<const T extends string>(table: Readonly<Record<T, readonly string[]>>, extra?: (text: string) => NoInfer<T> | undefined): Parser<T> {
  return (raw, name) => {
    const text = raw.trim().toLowerCase();
    for (const [value, spellings] of Object.entries(table) as [T, readonly string[]][]) {
      if (spellings.includes(text)) return value;
    }
    const found = extra?.(text);
    if (found !== undefined) return found;
    const all = Object.values<readonly string[]>(table).flat();
    throw invalidSetting(name, raw, `one of ${all.map((v) => `"${v}"`).join(', ')}`);
  };
}

/** qemus/qemu network.sh isNAT / isUserMode / disabled. */
export const parseNetwork = aliasParser(
  {
    tap: ['tap', 'nat', 'tun', 'tuntap', 'y', 'yes', 'true', 'on', '1'],
    user: ['user', 'passt', 'slirp'],
    none: ['none', 'n', 'no', 'false', 'off', '0', 'disabled'],
  },
  (text) => (text.startsWith('user') ? 'user' : undefined),
);

/** qemus/qemu boot.sh: the windows_* modes are the same firmware as their plain names. */
export const parseBootMode = aliasParser({
  uefi: ['uefi', 'windows', 'windows_plain'],
  secure: ['secure', 'windows_secure'],
  legacy: ['legacy', 'windows_legacy'],
});

/** qemus/qemu disk.sh validDiskType: ide and sata are one AHCI disk; usb a usb-storage disk. */
export const parseDiskType = aliasParser({
  scsi: ['scsi', 'virtio-scsi'],
  blk: ['blk', 'virtio-blk'],
  sata: ['sata', 'ide'],
  nvme: ['nvme'],
  usb: ['usb'],
});

export const parseDiskIo = aliasParser({ threads: ['threads'], native: ['native'], io_uring: ['io_uring', 'io-uring'] });

/** QEMU's -drive cache= modes (docs/system/qemu-block-drivers, "Disk image cache modes"). */
export const parseDiskCache = aliasParser({
  writeback: ['writeback'],
  none: ['none'],
  writethrough: ['writethrough'],
  directsync: ['directsync'],
  unsafe: ['unsafe'],
});

/** disk.sh: Y/on/unmap pass the guest's TRIM to the image; N/off/ignore drop it. */
export const parseDiscard = aliasParser({
  unmap: ['unmap', 'y', 'yes', 'true', 'on', '1'],
  ignore: ['ignore', 'n', 'no', 'false', 'off', '0'],
});

/**
 * SMP: QEMU's -smp text, "8" or "8,sockets=1,cores=4,threads=2" (qemus config.sh passes it as
 * is). Returned as the vCPU count and the layout QEMU gets.
 */
export interface SmpLayout {
  cpus: number;
  text: string;
}

const SMP_KEYS = new Set(['cpus', 'maxcpus', 'sockets', 'dies', 'clusters', 'cores', 'threads', 'books', 'drawers', 'modules']);

export function parseSmp(raw: string, name: string): SmpLayout {
  const form = 'a QEMU -smp value such as "4" or "4,sockets=1,cores=2,threads=2"';
  const text = raw.trim().replace(/\s+/g, '');
  const parts = text.split(',');
  const counts: Record<string, number> = {};
  for (const [i, part] of parts.entries()) {
    const match = /^(?:([a-z]+)=)?(\d+)$/.exec(part);
    if (!match || Number(match[2]) < 1) throw invalidSetting(name, raw, form);
    const key = match[1] ?? (i === 0 ? 'cpus' : '');
    if (!SMP_KEYS.has(key) || key in counts) throw invalidSetting(name, raw, form);
    counts[key] = Number(match[2]);
  }
  const product = (counts['sockets'] ?? 1) * (counts['dies'] ?? 1) * (counts['clusters'] ?? 1) * (counts['cores'] ?? 1) * (counts['threads'] ?? 1);
  const cpus = counts['cpus'] ?? product;
  if (cpus > 1024) throw invalidSetting(name, raw, form);
  return { cpus, text };
}

/** A QEMU device model or option list: letters, digits and `-_.,=:+` only, no spaces (argv safety). */
export function qemuWordParser(form: string): Parser<string> {
  return (raw, name) => {
    const text = raw.trim();
    if (!/^[A-Za-z0-9_.,=:+-]+$/.test(text)) throw invalidSetting(name, raw, form);
    return text;
  };
}

/** MACHINE: windock builds a q35 machine (AHCI, pflash, ICH9); other types are read as q35 with a warning. */
export function parseMachine(raw: string, name: string, ctx: ParseContext = NO_CONTEXT): string {
  const text = qemuWordParser('a QEMU machine type such as "q35"')(raw, name);
  if (/^(q35|pc-q35-[0-9.]+)$/.test(text)) return text;
  ctx.warn(`${name}=${text}: windock builds a q35 machine (its AHCI, pflash and ICH9 devices); using q35`);
  return 'q35';
}

/** USB: the controller (qemus config.sh); windock keeps an xHCI one, which the viewer's tablet needs. */
export function parseUsbController(raw: string, name: string, ctx: ParseContext = NO_CONTEXT): string {
  const text = raw.trim().toLowerCase();
  const model = text.split(',')[0] ?? '';
  if (model === 'qemu-xhci' || model === 'nec-usb-xhci') return model;
  if (['y', 'yes', 'on', 'true', '1'].includes(text)) return 'qemu-xhci';
  ctx.warn(`${name}=${raw.trim()}: windock keeps a qemu-xhci USB controller (the viewer's tablet and USB passthrough need it)`);
  return 'qemu-xhci';
}

/** USB_PASSTHROUGH: "vendor:product" pairs in hex as lsusb prints them, e.g. "046d:c52b,0781:5581". */
export interface UsbId {
  vendor: string;
  product: string;
}

export function parseUsbIds(raw: string, name: string): UsbId[] {
  const form = 'a comma-separated list of USB ids as lsusb prints them, such as "046d:c52b"';
  return raw
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((part) => {
      const match = /^(?:0x)?([0-9a-f]{4}):(?:0x)?([0-9a-f]{4})$/i.exec(part);
      if (!match) throw invalidSetting(name, raw, form);
      return { vendor: `0x${match[1]!.toLowerCase()}`, product: `0x${match[2]!.toLowerCase()}` };
    });
}
