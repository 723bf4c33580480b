/**
 * UDF, as far as finding one file needs it: Microsoft's Windows ISOs are UDF bridge discs (UDF
 * 1.02) whose ISO 9660 side holds only a README, and their install.wim can exceed 4 GiB.
 *
 * The walk (ECMA-167 3rd edition, parts 3 and 4; OSTA UDF 1.02): the Anchor Volume Descriptor
 * Pointer at sector 256 (tag 2) → the Main Volume Descriptor Sequence: Partition Descriptors
 * (tag 5: number, starting sector) and the Logical Volume Descriptor (tag 6: block size, the File
 * Set Descriptor's address, the partition maps) → the File Set Descriptor (tag 256: the root
 * directory's ICB) → File Entries (tag 261) or Extended File Entries (tag 266, UDF 2.00) whose
 * allocation descriptors (short_ad, long_ad, or data embedded in the entry) locate a directory's
 * File Identifier Descriptors (tag 257) or a file's bytes.
 *
 * Only type 1 partition maps (a physical partition) are read: UDF 1.02 discs have nothing else;
 * a metadata partition (UDF 2.50, Blu-ray) is reported as unsupported. Every structure is
 * checked (tag id, tag checksum, bounds) before it is used; directories are bounded.
 */
import { checkedExtents, isoError, MAX_DIRECTORY_BYTES, SECTOR, ucs2be, type ByteSource, type FileExtents } from './iso-reader.js';

const AVDP_SECTOR = 256;
const MAX_VDS_SECTORS = 64;
/** Allocation descriptors of one entry; Windows' largest install.wim needs about six. */
const MAX_EXTENTS = 4096;

const TAG = { avdp: 2, partition: 5, logicalVolume: 6, terminator: 8, fileSet: 256, fid: 257, fileEntry: 261, extendedFileEntry: 266 } as const;

interface Volume {
  blockSize: number;
  /** Partition reference number (index in the LVD's maps) → the partition's first sector. */
  partitionStart: number[];
}

interface LongAd {
  length: number;
  lbn: number;
  partition: number;
}

/** Pure: the descriptor tag's id, or undefined when the checksum (ECMA-167 3/7.2.3) does not hold. */
export function tagId(block: Buffer, offset = 0): number | undefined {
  if (block.length < offset + 16) return undefined;
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + block[offset + i]!) & 0xff;
  return sum === block[offset + 4]! ? block.readUInt16LE(offset) : undefined;
}

/** Whether the image has a UDF anchor at sector 256. */
export async function hasUdf(source: ByteSource): Promise<boolean> {
  if ((AVDP_SECTOR + 1) * SECTOR > source.size) return false;
  return tagId(await source.read(AVDP_SECTOR * SECTOR, SECTOR)) === TAG.avdp;
}

/** Finds `path` (case-insensitive, "/"-separated) in the UDF tree; undefined when absent. */
export async function findUdfFile(source: ByteSource, path: string): Promise<FileExtents | undefined> {
  const anchor = await source.read(AVDP_SECTOR * SECTOR, SECTOR);
  if (tagId(anchor) !== TAG.avdp) throw isoError(source, 'no UDF anchor at sector 256');
  const vds = { length: anchor.readUInt32LE(16), sector: anchor.readUInt32LE(20) };
  const partitions = new Map<number, number>();
  let lvd: Buffer | undefined;
  for (let i = 0; i < Math.min(MAX_VDS_SECTORS, Math.ceil(vds.length / SECTOR)); i++) {
    const sector = await source.read((vds.sector + i) * SECTOR, SECTOR);
    const id = tagId(sector);
    if (id === TAG.terminator) break;
    if (id === TAG.partition) partitions.set(sector.readUInt16LE(22), sector.readUInt32LE(188));
    if (id === TAG.logicalVolume) lvd ??= sector;
  }
  if (!lvd) throw isoError(source, 'the UDF volume descriptor sequence has no Logical Volume Descriptor');
  const volume = readVolume(source, lvd, partitions);
  const fsdAddress = longAd(lvd, 248);
  const fsd = await readBlock(source, volume, fsdAddress, TAG.fileSet);
  let entry = await readBlock(source, volume, longAd(fsd.bytes, 400), undefined);
  const parts = path.split('/').filter(Boolean);
  for (const [i, part] of parts.entries()) {
    const directory = await entryData(source, volume, entry, MAX_DIRECTORY_BYTES);
    if (!directory.directory) return undefined;
    const child = parseFileIdentifiers(directory.bytes).find((f) => !f.deleted && !f.parent && f.name.toLowerCase() === part.toLowerCase());
    if (!child) return undefined;
    entry = await readBlock(source, volume, child.icb, undefined);
    if (i === parts.length - 1) {
      const file = describeEntry(source, volume, entry);
      if (file.directory) return undefined;
      // Data embedded in the entry (a tiny file): its bytes lie inside the entry's block.
      if (file.embedded) return checkedExtents(source, [{ offset: blockOffset(source, volume, entry.partition, child.icb.lbn) + file.embedded.start, length: file.size }]);
      return checkedExtents(source, clip(file.extents, file.size));
    }
  }
  return undefined;
}

function readVolume(source: ByteSource, lvd: Buffer, partitions: Map<number, number>): Volume {
  const blockSize = lvd.readUInt32LE(212);
  if (blockSize !== SECTOR) throw isoError(source, `a UDF logical block size of ${blockSize} (expected ${SECTOR})`);
  const mapCount = lvd.readUInt32LE(268);
  const partitionStart: number[] = [];
  let at = 440;
  for (let i = 0; i < Math.min(mapCount, 16) && at + 2 <= lvd.length; i++) {
    const type = lvd[at]!;
    const length = lvd[at + 1]!;
    if (type !== 1 || length < 6) throw isoError(source, `a UDF partition map of type ${type} (only physical partitions, UDF 1.02, are read)`);
    const start = partitions.get(lvd.readUInt16LE(at + 4));
    if (start === undefined) throw isoError(source, `the UDF partition ${lvd.readUInt16LE(at + 4)} has no Partition Descriptor`);
    partitionStart.push(start);
    at += length;
  }
  if (partitionStart.length === 0) throw isoError(source, 'the UDF volume has no partition map');
  return { blockSize, partitionStart };
}

function longAd(bytes: Buffer, offset: number): LongAd {
  return { length: bytes.readUInt32LE(offset) & 0x3fffffff, lbn: bytes.readUInt32LE(offset + 4), partition: bytes.readUInt16LE(offset + 8) };
}

function blockOffset(source: ByteSource, volume: Volume, partition: number, lbn: number): number {
  const start = volume.partitionStart[partition];
  if (start === undefined) throw isoError(source, `a UDF address names partition ${partition}, which the volume does not have`);
  return (start + lbn) * volume.blockSize;
}

/** A descriptor block and the partition it was read from (a file entry's short_ads are relative to it). */
interface Block {
  bytes: Buffer;
  partition: number;
}

async function readBlock(source: ByteSource, volume: Volume, address: LongAd, expected: number | undefined): Promise<Block> {
  const block = await source.read(blockOffset(source, volume, address.partition, address.lbn), volume.blockSize);
  const id = tagId(block);
  const ok = expected === undefined ? id === TAG.fileEntry || id === TAG.extendedFileEntry : id === expected;
  if (!ok) throw isoError(source, `a UDF descriptor at block ${address.lbn} has tag ${id ?? 'with a bad checksum'}, expected ${expected ?? 'a file entry (261 or 266)'}`);
  return { bytes: block, partition: address.partition };
}

interface DescribedEntry {
  directory: boolean;
  size: number;
  extents: { offset: number; length: number }[];
  /** Data stored inside the entry itself (ICB flags type 3). */
  embedded: { start: number } | undefined;
}

/** Pure but for offsets: what a (extended) file entry says of its data. */
function describeEntry(source: ByteSource, volume: Volume, block: Block): DescribedEntry {
  const entry = block.bytes;
  const extended = tagId(entry) === TAG.extendedFileEntry;
  const fileType = entry[16 + 11]!;
  const adType = entry.readUInt16LE(16 + 18) & 0x7;
  const size = Number(entry.readBigUInt64LE(56));
  const eaLength = entry.readUInt32LE(extended ? 208 : 168);
  const adLength = entry.readUInt32LE(extended ? 212 : 172);
  const adStart = (extended ? 216 : 176) + eaLength;
  if (adStart + adLength > entry.length) throw isoError(source, 'a UDF file entry whose descriptors run past its block');
  const partition = block.partition;
  const directory = fileType === 4;
  if (adType === 3) {
    if (size > adLength) throw isoError(source, 'a UDF file entry with more embedded data than it holds');
    return { directory, size, extents: [], embedded: { start: adStart } };
  }
  const step = adType === 0 ? 8 : adType === 1 ? 16 : 0;
  if (step === 0) throw isoError(source, `a UDF file entry with allocation descriptor type ${adType}`);
  const extents: { offset: number; length: number }[] = [];
  for (let at = adStart; at + step <= adStart + adLength && extents.length < MAX_EXTENTS; at += step) {
    const raw = entry.readUInt32LE(at);
    const length = raw & 0x3fffffff;
    const kind = raw >>> 30;
    if (length === 0) break;
    if (kind === 3) throw isoError(source, 'a UDF file whose allocation descriptors continue elsewhere (not supported)');
    if (kind !== 0) throw isoError(source, 'a UDF file with unrecorded extents');
    const lbn = entry.readUInt32LE(at + 4);
    const part = step === 16 ? entry.readUInt16LE(at + 8) : partition;
    extents.push({ offset: blockOffset(source, volume, part, lbn), length });
  }
  return { directory, size, extents, embedded: undefined };
}

async function entryData(source: ByteSource, volume: Volume, entry: Block, limit: number): Promise<{ directory: boolean; bytes: Buffer }> {
  const file = describeEntry(source, volume, entry);
  if (file.size > limit) throw isoError(source, `a UDF directory of ${file.size} bytes is larger than any Windows ISO has (${limit})`);
  if (file.embedded) return { directory: file.directory, bytes: entry.bytes.subarray(file.embedded.start, file.embedded.start + file.size) };
  const parts: Buffer[] = [];
  for (const extent of clip(file.extents, file.size)) parts.push(await source.read(extent.offset, extent.length));
  return { directory: file.directory, bytes: Buffer.concat(parts) };
}

/** Extents cut to the file's length (the last one is recorded in whole blocks). */
function clip(extents: { offset: number; length: number }[], size: number): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  let left = size;
  for (const extent of extents) {
    if (left <= 0) break;
    out.push({ offset: extent.offset, length: Math.min(extent.length, left) });
    left -= extent.length;
  }
  return out;
}

export interface FileIdentifier {
  name: string;
  directory: boolean;
  deleted: boolean;
  parent: boolean;
  icb: LongAd;
}

/** Pure: the File Identifier Descriptors of a directory's bytes (ECMA-167 4/14.4). */
export function parseFileIdentifiers(bytes: Buffer): FileIdentifier[] {
  const found: FileIdentifier[] = [];
  let at = 0;
  while (at + 38 <= bytes.length) {
    if (tagId(bytes, at) !== TAG.fid) break;
    const characteristics = bytes[at + 18]!;
    const nameLength = bytes[at + 19]!;
    const iuLength = bytes.readUInt16LE(at + 36);
    const nameStart = at + 38 + iuLength;
    if (nameStart + nameLength > bytes.length) break;
    found.push({
      name: dstring(bytes.subarray(nameStart, nameStart + nameLength)),
      directory: (characteristics & 0x02) !== 0,
      deleted: (characteristics & 0x04) !== 0,
      parent: (characteristics & 0x08) !== 0,
      icb: longAd(bytes, at + 20),
    });
    at += Math.ceil((38 + iuLength + nameLength) / 4) * 4;
  }
  return found;
}

/** OSTA compressed unicode (UDF 2.1.1): compression id 8 (one byte a character) or 16 (UCS-2 BE). */
function dstring(raw: Buffer): string {
  if (raw.length === 0) return '';
  return raw[0] === 16 ? ucs2be(raw.subarray(1)) : raw.subarray(1).toString('latin1');
}
