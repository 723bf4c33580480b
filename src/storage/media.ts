/**
 * Boot media as local files: where BOOT/VERSION point, a Vagrant box unpacked once, and what a
 * file is (ISO or disk image, which format, which partition scheme). Adapters: they read files
 * and run qemu-img/tar; the decisions stay in storage-plan.ts.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { AppError } from '../core/errors.js';
import { describeProgramEnd, runProgram } from '../process/run-program.js';
import { isIso9660, ISO9660_MAGIC_OFFSET, partitionScheme, type PartitionScheme } from './partition.js';
import {
  embeddedDescriptor,
  looksLikeText,
  parseVmdkDescriptor,
  referenceProblems,
  type ImageReferences,
  type ReferenceKind,
  type VmdkDescriptor,
} from './image-references.js';
import type { ImageInfo, QemuImg } from './qemu-img.js';
import { convertedBaseName, type FileIdentity, type ObservedMedia } from './storage-plan.js';

export type MediaSource =
  | {
      kind: 'url';
      url: string;
      /** Expected SHA-256 (lower-case hex): BOOT_SHA256 or a catalog value. */
      sha256?: string | undefined;
      /** File name under STORAGE; derived from the URL when absent. */
      fileName?: string | undefined;
    }
  | { kind: 'path'; path: string };

export function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/** The URL as it may be shown and recorded: no user info, no query, no fragment (tokens live there). */
export function publicUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * `https://host/path/Win11_x64.iso?token=...` → `Win11_x64.iso`; safe as a single file name, and
 * `fallback` when the URL names none.
 */
export function fileNameFromUrl(url: string, fallback = 'download.bin'): string {
  let name = '';
  try {
    name = decodeURIComponent(basename(new URL(url).pathname));
  } catch {
    name = '';
  }
  name = name.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, '');
  return name === '' ? fallback : name;
}

/** Names windock owns in STORAGE: a download never lands on them (a URL ending in /data.qcow2). */
const RESERVED_NAMES = /^(data\.qcow2|data\.img|windock\.json|uefi-vars(-secure)?\.fd|ephemeral\.qcow2|ephemeral-vars\.fd)$/i;

export function safeDownloadName(name: string): string {
  return RESERVED_NAMES.test(name) ? `download-${name}` : name;
}

/** The file in STORAGE a URL of media is downloaded to (BOOT=<URL>, VERSION=<URL>). */
export function urlDownloadName(url: string): string {
  return safeDownloadName(fileNameFromUrl(url));
}

export async function identityOf(path: string): Promise<FileIdentity | 'missing'> {
  try {
    const info = await stat(path);
    return { size: info.size, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

/** Up to `length` bytes of a file (or block device) from `position`; fewer at its end. */
export async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A Vagrant box is a tar (usually gzip-compressed): gzip magic 1f 8b, or "ustar" at byte 257. */
export async function looksLikeBox(path: string): Promise<boolean> {
  if (/\.box$/i.test(path)) return true;
  const head = await readAt(path, 0, 262);
  return (head[0] === 0x1f && head[1] === 0x8b) || head.subarray(257, 262).toString('latin1') === 'ustar';
}

/**
 * Unpacks `box.img` of a libvirt Vagrant box into STORAGE once (vagrant-libvirt's box format:
 * metadata.json + Vagrantfile + box.img). Extracted into a private directory and renamed into
 * place, so an interrupted extraction never leaves a half image under the final name. `-S`
 * (sparse) keeps holes; GNU tar detects the compression itself.
 */
export async function extractBox(boxPath: string, storageDir: string, signal?: AbortSignal): Promise<string> {
  const target = join(storageDir, `${basename(boxPath).replace(/\.box$/i, '')}.box.img`);
  if ((await identityOf(target)) !== 'missing') return target;
  const work = join(storageDir, `.extract-${randomUUID()}`);
  await mkdir(work);
  try {
    const result = await runProgram(['tar', '-x', '-S', '-f', boxPath, '-C', work, '--no-same-owner', '--wildcards', '--no-anchored', 'box.img'], { signal, dieWithParent: true });
    // A stop request ends the extraction; it says nothing about the box.
    if (result.endedBy === 'abort') signal?.throwIfAborted();
    if (!result.ok) {
      throw new AppError('media', `BOOT ${boxPath} is not a Vagrant box holding box.img: ${result.stderr.trim() || `tar ${describeProgramEnd(result)}`}`, {
        hint: 'A libvirt Vagrant box is a tar archive with box.img and metadata.json.',
      });
    }
    const found = await findFile(work, 'box.img');
    if (!found) throw new AppError('media', `BOOT ${boxPath} holds no box.img`);
    await rename(found, target);
    return target;
  } finally {
    await removeTree(work);
  }
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return path;
    if (entry.isDirectory()) {
      const found = await findFile(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** Removes windock's own scratch directory (never anything the user put in STORAGE). */
async function removeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await removeTree(path);
    else await unlink(path).catch(() => undefined);
  }
  await rmdir(dir).catch(() => undefined);
}

export async function readPartitionScheme(
  qemuImg: QemuImg,
  path: string,
  format: string,
  scratchDir: string,
): Promise<PartitionScheme | undefined> {
  const scratch = join(scratchDir, `sectors-${randomUUID()}.raw`);
  try {
    await mkdir(scratchDir, { recursive: true });
    await qemuImg.readSectors(path, format, 2, scratch);
    return partitionScheme(await readAt(scratch, 0, 1024));
  } catch {
    // A guess only: an unreadable table leaves the decision to the defaults.
    return undefined;
  } finally {
    await unlink(scratch).catch(() => undefined);
  }
}

/** What a local media file is. `source` is what the user named, for windock.json and the logs. */
export async function observeMedia(
  qemuImg: QemuImg,
  path: string,
  source: string,
  storageDir: string,
  scratchDir: string,
  /** BOOT_TRUST=Y: the image may name other files (image-references.ts). */
  bootTrust: boolean,
): Promise<ObservedMedia> {
  const absolute = resolve(path);
  const identity = await identityOf(absolute);
  if (identity === 'missing') {
    throw new AppError('media', `BOOT ${source} does not exist`, {
      hint: 'Mount the image into the container and set BOOT to its path inside the container.',
      details: { boot: source },
    });
  }
  if (isIso9660(await readAt(absolute, ISO9660_MAGIC_OFFSET, 5))) {
    return { kind: 'iso', path: absolute, source, identity };
  }
  // The format is probed here (BOOT may be any of several), and given explicitly from then on
  // (-F for the overlay, -f for a conversion): QEMU never probes the image again when attaching.
  const info = bootTrust ? await qemuImg.info(absolute) : await selfContainedInfo(qemuImg, absolute, source, storageDir);
  const convertedPath = join(storageDir, convertedBaseName(absolute));
  const converted = (await identityOf(convertedPath)) === 'missing' ? undefined : await qemuImg.info(convertedPath, 'qcow2');
  return {
    kind: 'disk',
    path: absolute,
    source,
    format: info.format,
    virtualSize: info.virtualSize,
    identity,
    partitionScheme: await readPartitionScheme(qemuImg, absolute, info.format, scratchDir),
    converted: converted ? { path: convertedPath, virtualSize: converted.virtualSize } : undefined,
  };
}

/** The largest VMDK descriptor QEMU reads (vmdk.c vmdk_read_desc: under 1 MiB). */
const DESCRIPTOR_MAX = 2 ** 20;

/**
 * `qemu-img info` of a BOOT image that names no other file, or exit 2 with the reasons. A VMDK
 * descriptor is read first, by windock: qemu-img opens every extent, and would block on a FIFO.
 */
async function selfContainedInfo(qemuImg: QemuImg, image: string, source: string, storageDir: string): Promise<ImageInfo> {
  const storage = resolve(storageDir);
  const descriptor = await readVmdkDescriptor(image);
  if (descriptor) {
    refuseReferences(source, referenceProblems(image, storage, await withKinds(image, { backingFile: descriptor.parent, extents: descriptor.extents })));
  }
  const info = await qemuImg.info(image);
  refuseReferences(source, referenceProblems(image, storage, await withKinds(image, { backingFile: info.backingFile, dataFile: info.dataFile, extents: info.extents })));
  return info;
}

function refuseReferences(source: string, problems: string[]): void {
  if (problems.length === 0) return;
  throw new AppError('config', `BOOT ${source} is not a self-contained image: ${problems.join('; ')}`, {
    hint:
      'Every file an image names becomes readable by the guest. Use a self-contained image (e.g. qemu-img convert -O qcow2 IMAGE standalone.qcow2, run where IMAGE and what it names live), or set BOOT_TRUST=Y if you trust the image and every file it names.',
    details: { boot: source, problems },
  });
}

async function readVmdkDescriptor(image: string): Promise<VmdkDescriptor | undefined> {
  const head = await readAt(image, 0, DESCRIPTOR_MAX);
  const embedded = embeddedDescriptor(head, DESCRIPTOR_MAX);
  if (embedded) {
    const found = parseVmdkDescriptor((await readAt(image, embedded.offset, embedded.length)).toString('latin1'));
    return { parent: found.parent, extents: embedded.extentsCount ? found.extents : [] };
  }
  return looksLikeText(head) ? parseVmdkDescriptor(head.toString('latin1')) : undefined;
}

async function withKinds(image: string, refs: { backingFile?: string | undefined; dataFile?: string | undefined; extents: string[] }): Promise<ImageReferences> {
  const extents = await Promise.all(
    refs.extents.map(async (name) => ({ name, kind: await kindOf(isAbsolute(name) ? name : join(dirname(image), name)) })),
  );
  return { backingFile: refs.backingFile, dataFile: refs.dataFile, extents };
}

async function kindOf(path: string): Promise<ReferenceKind> {
  try {
    const info = await lstat(path);
    return info.isSymbolicLink() ? 'symlink' : info.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}
