/**
 * Finds one file inside an ISO image and reads byte ranges of it, without extracting the image:
 * windock needs the first and the last few kilobytes of `sources/install.wim` (its header and its
 * XML, wim-metadata.ts), not the gigabytes in between.
 *
 * File systems, in the order tried:
 *  - UDF (udf-reader.ts): Microsoft's Windows ISOs are UDF bridge discs whose ISO 9660 side holds
 *    only a README; install.wim lives in UDF and may be larger than 4 GiB;
 *  - ISO 9660 with Joliet (ECMA-119 §8.5 supplementary volume descriptor, escape sequences %/@,
 *    %/C, %/E; names in UCS-2 big-endian), then the primary volume descriptor's plain names
 *    ("INSTALL.WIM;1"). Files above 4 GiB are multi-extent (ECMA-119 §9.1.6 flag bit 7), which
 *    xorriso writes with `-iso-level 3`.
 *
 * The parsers are pure (sectors in, records out); the only adapter is FileByteSource. Every read
 * is bounded (a directory above MAX_DIRECTORY_BYTES, a volume descriptor list without a
 * terminator, an extent outside the image are refused), and every refusal is an AppError naming
 * the image: a truncated or hostile ISO never crashes windock nor makes it allocate without bound.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { AppError } from '../core/errors.js';

export const SECTOR = 2048;
/** No Windows ISO has a directory near this; a larger one is refused, not read. */
export const MAX_DIRECTORY_BYTES = 4 * 1024 * 1024;
/** ECMA-119 §8.1: descriptors start at sector 16; more than this many without a terminator is hostile. */
const MAX_VOLUME_DESCRIPTORS = 64;

/** Byte ranges of an image, read on demand. */
export interface ByteSource {
  /** For messages: the image's path. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`, or an AppError when the image is shorter. */
  read(offset: number, length: number): Promise<Buffer>;
}

/** Where a file's bytes are in the image, in order. */
export interface FileExtents {
  size: number;
  extents: { offset: number; length: number }[];
}

export function isoError(source: { name: string }, what: string, cause?: unknown): AppError {
  return new AppError('media', `${source.name} cannot be read as an ISO image: ${what}`, {
    hint: 'Check that the file is a whole, undamaged ISO (compare its size and SHA-256 with the original).',
    details: { iso: source.name },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A file opened read-only; reads past its end are refused with an AppError naming it. */
export class FileByteSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<FileByteSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw isoError({ name: path }, `it cannot be opened (${(error as NodeJS.ErrnoException).code ?? String(error)})`, error);
    }
    const info = await handle.stat();
    // A block device (a real DVD drive mounted as /boot.iso) reports size 0: reads are bounded by the device.
    return new FileByteSource(path, info.isBlockDevice() ? Number.MAX_SAFE_INTEGER : info.size, handle);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw isoError(this, `it ends at byte ${this.size}, but a structure lies at ${offset}..${offset + length} (truncated?)`);
    }
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, offset);
    if (bytesRead < length) throw isoError(this, `only ${bytesRead} of ${length} bytes at ${offset} could be read (truncated?)`);
    return buffer;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Reads `length` bytes at `offset` of a file laid out in extents; bounded by the file's size. */
export async function readFileRange(source: ByteSource, file: FileExtents, offset: number, length: number): Promise<Buffer> {
  if (offset < 0 || length < 0 || offset + length > file.size) {
    throw isoError(source, `a read of ${length} bytes at ${offset} lies outside a file of ${file.size} bytes`);
  }
  const parts: Buffer[] = [];
  let position = 0;
  let wanted = offset;
  let left = length;
  for (const extent of file.extents) {
    if (left === 0) break;
    const end = position + extent.length;
    if (wanted < end) {
      const take = Math.min(left, end - wanted);
      parts.push(await source.read(extent.offset + (wanted - position), take));
      wanted += take;
      left -= take;
    }
    position = end;
  }
  if (left > 0) throw isoError(source, `the file's extents cover ${position} bytes, fewer than its size ${file.size}`);
  return Buffer.concat(parts);
}

/** One entry of an ISO 9660 directory (ECMA-119 §9.1). */
export interface IsoDirectoryRecord {
  name: string;
  directory: boolean;
  /** Another record of the same file follows (multi-extent, flag bit 7). */
  continues: boolean;
  lba: number;
  length: number;
}

/** Pure: the records of a directory's bytes. Records never cross a sector; a zero length byte pads to the next. */
export function parseDirectoryRecords(bytes: Buffer, joliet: boolean): IsoDirectoryRecord[] {
  const records: IsoDirectoryRecord[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = bytes[at]!;
    if (length === 0) {
      at = (Math.floor(at / SECTOR) + 1) * SECTOR;
      continue;
    }
    if (length < 34 || at + length > bytes.length) break;
    const nameLength = bytes[at + 32]!;
    if (33 + nameLength > length) break;
    const raw = bytes.subarray(at + 33, at + 33 + nameLength);
    const flags = bytes[at + 25]!;
    // The first two records are "." and ".." (one byte, 0x00 and 0x01).
    if (!(nameLength === 1 && raw[0]! <= 1)) {
      records.push({ name: decodeName(raw, joliet), directory: (flags & 0x02) !== 0, continues: (flags & 0x80) !== 0, lba: bytes.readUInt32LE(at + 2), length: bytes.readUInt32LE(at + 10) });
    }
    at += length;
  }
  return records;
}

function decodeName(raw: Buffer, joliet: boolean): string {
  let name = joliet ? ucs2be(raw) : raw.toString('latin1');
  // "INSTALL.WIM;1": the version suffix, and the dot of a name without extension ("README.;1").
  name = name.replace(/;\d+$/, '');
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export function ucs2be(raw: Buffer): string {
  let text = '';
  for (let i = 0; i + 1 < raw.length; i += 2) text += String.fromCharCode(raw.readUInt16BE(i));
  return text;
}

/** Pure: the root directory of a volume descriptor sector, when it is a PVD or a Joliet SVD. */
export function parseVolumeDescriptor(sector: Buffer): { kind: 'primary' | 'joliet' | 'terminator' | 'other'; root?: { lba: number; length: number } } {
  if (sector.length < SECTOR || sector.toString('latin1', 1, 6) !== 'CD001') return { kind: 'other' };
  const type = sector[0]!;
  if (type === 255) return { kind: 'terminator' };
  const root = { lba: sector.readUInt32LE(156 + 2), length: sector.readUInt32LE(156 + 10) };
  if (type === 1) return { kind: 'primary', root };
  const escapes = sector.toString('latin1', 88, 91);
  if (type === 2 && (escapes === '%/@' || escapes === '%/C' || escapes === '%/E')) return { kind: 'joliet', root };
  return { kind: 'other' };
}

/** Finds `path` (case-insensitive, "/"-separated) in the ISO 9660 tree, Joliet first; undefined when absent, an AppError when the image has no ISO 9660 volume. */
export async function findIso9660File(source: ByteSource, path: string): Promise<FileExtents | undefined> {
  let primary: { lba: number; length: number } | undefined;
  let joliet: { lba: number; length: number } | undefined;
  for (let i = 0; i < MAX_VOLUME_DESCRIPTORS; i++) {
    const offset = (16 + i) * SECTOR;
    if (offset + SECTOR > source.size) break;
    const descriptor = parseVolumeDescriptor(await source.read(offset, SECTOR));
    if (descriptor.kind === 'terminator') break;
    if (descriptor.kind === 'primary') primary ??= descriptor.root;
    if (descriptor.kind === 'joliet') joliet ??= descriptor.root;
  }
  // Neither ISO 9660 nor (checked before) UDF: the file is no ISO image at all, which is not the same as
  // an ISO without Windows Setup on it.
  if (!primary && !joliet) throw isoError(source, 'it has no ISO 9660 volume descriptor at sector 16 and no UDF anchor at sector 256');
  const tree = joliet ? { root: joliet, joliet: true } : { root: primary!, joliet: false };
  let directory = tree.root;
  const parts = path.split('/').filter(Boolean);
  for (const [i, part] of parts.entries()) {
    const records = parseDirectoryRecords(await readExtent(source, directory.lba, directory.length), tree.joliet);
    const matching = records.filter((r) => r.name.toLowerCase() === part.toLowerCase());
    const first = matching[0];
    if (!first) return undefined;
    if (i < parts.length - 1) {
      if (!first.directory) return undefined;
      directory = first;
      continue;
    }
    if (first.directory) return undefined;
    // A multi-extent file: its records follow one another, all but the last flagged "continues".
    const chain: IsoDirectoryRecord[] = [];
    for (const record of matching) {
      chain.push(record);
      if (!record.continues) break;
    }
    const extents = chain.map((r) => ({ offset: r.lba * SECTOR, length: r.length }));
    return checkedExtents(source, extents);
  }
  return undefined;
}

async function readExtent(source: ByteSource, lba: number, length: number): Promise<Buffer> {
  if (length > MAX_DIRECTORY_BYTES) throw isoError(source, `a directory of ${length} bytes is larger than any Windows ISO has (${MAX_DIRECTORY_BYTES})`);
  return source.read(lba * SECTOR, length);
}

/** Extents that lie inside the image; otherwise the image is truncated or hostile. */
export function checkedExtents(source: ByteSource, extents: { offset: number; length: number }[]): FileExtents {
  for (const extent of extents) {
    if (extent.offset + extent.length > source.size) {
      throw isoError(source, `a file's data lies at ${extent.offset}..${extent.offset + extent.length}, past the image's end at ${source.size} (truncated?)`);
    }
  }
  return { size: extents.reduce((sum, e) => sum + e.length, 0), extents };
}
