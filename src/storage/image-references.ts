/**
 * Which other files a BOOT image makes QEMU open, and whether that is allowed — pure. A disk
 * image is not always one file: a qcow2 may name a backing file and an external data file, a
 * VMDK descriptor names its extents, and any of these names may be a QEMU `json:` description or
 * a protocol (`nbd:`, `ssh:`). Attached to the guest, each of those files becomes readable by it:
 * a downloaded image whose backing file is /etc/shadow, or whose extent is STORAGE/windock.json
 * (the viewer token), would hand the container's secrets to whoever made the image. So a BOOT
 * image must be self-contained unless BOOT_TRUST=Y:
 *
 * - no backing file (qcow2, qed, or a VMDK `parentFileNameHint`), no external data file;
 * - VMDK extents only the image itself or, for an image outside STORAGE, a regular file (not a
 *   symbolic link, device or FIFO) in the image's own folder named by a plain file name. In
 *   STORAGE, only the image itself: its neighbours there are windock's own files and other
 *   downloads, never parts of a downloaded descriptor.
 *
 * The VMDK descriptor is read by windock itself (parseVmdkDescriptor) before qemu-img sees the
 * file, because `qemu-img info` opens every extent (an extent that is a FIFO blocks it for good);
 * qemu-img's own report (backing-filename, format-specific data-file and extents) is checked after.
 */
import { dirname, isAbsolute, join, normalize, relative } from 'node:path';

/** What lstat(2) says of a file an image names. */
export type ReferenceKind = 'file' | 'symlink' | 'other' | 'missing';

export interface ImageReferences {
  backingFile?: string | undefined;
  dataFile?: string | undefined;
  /** Extent file names as written (relative to the image's folder) or as qemu-img resolved them. */
  extents: { name: string; kind: ReferenceKind }[];
}

export interface VmdkDescriptor {
  extents: string[];
  parent: string | undefined;
}

/**
 * Extent lines of a VMDK descriptor, as QEMU's vmdk_parse_extents reads them: `ACCESS SECTORS
 * TYPE "FILE" [OFFSET]` (VMware Virtual Disk Format 1.1, §"Extent Descriptions"). ZERO extents
 * name no file. `parentFileNameHint` is a differencing disk's parent: a backing file.
 */
export function parseVmdkDescriptor(text: string): VmdkDescriptor {
  const extents: string[] = [];
  let parent: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    // Looser than QEMU (any access word, a signed count as sscanf's %ld takes): nothing QEMU opens is missed.
    const extent = /^\S+\s+[+-]?\d+\s+\S+\s+"([^"\r\n]*)"/.exec(line);
    if (extent) extents.push(extent[1] as string);
    const hint = /^parentFileNameHint\s*=\s*"([^"]*)"/.exec(line);
    if (hint) parent = hint[1];
  }
  return { extents, parent };
}

/** VMDK4 sparse header (vmdk.c VMDK4Header): magic "KDMV", then capacity and the embedded descriptor's place. */
export const VMDK4_MAGIC = 'KDMV';

export interface EmbeddedDescriptor {
  /** Byte offset and length of the embedded descriptor. */
  offset: number;
  length: number;
  /** QEMU reads the extents of an embedded descriptor only when the header's capacity is 0. */
  extentsCount: boolean;
}

/** Where a sparse VMDK keeps its descriptor (sectors of 512 bytes), from the first 64 header bytes. */
export function embeddedDescriptor(head: Buffer, maxLength: number): EmbeddedDescriptor | undefined {
  if (head.length < 44 || head.subarray(0, 4).toString('latin1') !== VMDK4_MAGIC) return undefined;
  const capacity = head.readBigUInt64LE(12);
  const offset = Number(head.readBigUInt64LE(28)) * 512;
  const length = Math.min(Number(head.readBigUInt64LE(36)) * 512, maxLength);
  if (offset <= 0 || length <= 0 || !Number.isSafeInteger(offset)) return undefined;
  return { offset, length, extentsCount: capacity === 0n };
}

/** A text descriptor holds no NUL byte; binary images (raw, qcow2, sparse VMDK) almost always do in their first MiB. */
export function looksLikeText(head: Buffer): boolean {
  return head.length > 0 && !head.includes(0);
}

/**
 * The reasons the image may not be used as it is (empty: it is self-contained). `image` and
 * `storage` are absolute paths.
 */
export function referenceProblems(image: string, storage: string, refs: ImageReferences): string[] {
  const problems: string[] = [];
  if (refs.backingFile) problems.push(`its backing file is ${JSON.stringify(refs.backingFile)}`);
  if (refs.dataFile) problems.push(`its external data file is ${JSON.stringify(refs.dataFile)}`);
  const folder = dirname(image);
  const fromStorage = relative(normalize(storage), folder);
  const inStorage = !isAbsolute(fromStorage) && fromStorage !== '..' && !fromStorage.startsWith('../');
  for (const { name, kind } of refs.extents) {
    const problem = extentProblem(image, folder, inStorage, name, kind);
    if (problem) problems.push(`its extent ${JSON.stringify(name)} ${problem}`);
  }
  return [...new Set(problems)];
}

function extentProblem(image: string, folder: string, inStorage: boolean, name: string, kind: ReferenceKind): string | undefined {
  // QEMU's path_has_protocol: a ':' before any '/' makes the name a protocol or json: description.
  if (/^[^/]*:/.test(name)) return 'is a QEMU protocol or json: name, not a file';
  const path = isAbsolute(name) ? normalize(name) : join(folder, name);
  if (path === image) return undefined;
  if (dirname(path) !== folder) return `lies outside the image's folder ${folder}`;
  if (inStorage) return 'is another file in STORAGE (an image there may only be its own extent)';
  if (kind === 'symlink') return 'is a symbolic link';
  if (kind === 'other') return 'is not a regular file';
  return undefined;
}
