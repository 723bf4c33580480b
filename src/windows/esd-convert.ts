/**
 * Turns a Microsoft ESD into a bootable Windows Setup ISO, the way dockur/windows does it with
 * wimlib (src/image.sh: the ESD branch of `extractImage`, then `buildImage`). An ESD from the
 * catalog holds image 1 "Windows Setup Media" (the ISO's file tree without its WIMs), image 2
 * "Microsoft Windows PE" and image 3 "Microsoft Windows Setup" (together sources/boot.wim, image
 * 3 the bootable one), then the editions.
 *
 *  1. `wimlib-imagex apply ESD 1 tree`;
 *  2. `wimlib-imagex export ESD 2|3 tree/sources/boot.wim --compress=LZX --chunk-size=32K` (3
 *     with `--boot`): the layout of Microsoft's own boot.wim;
 *  3. tree/sources/install.esd: a copy of the ESD with every other image deleted `--soft`, so it
 *     stays solid LZMS as Microsoft compressed it. Exporting the one edition instead would
 *     recompress gigabytes of LZMS (the editions share solid blocks), which takes far longer than
 *     the copy (a reflink where the filesystem has them). dockur moves the ESD itself; windock keeps
 *     it until the ISO is whole, so that an interrupted conversion starts again without a download;
 *  4. `genisoimage` with El Torito BIOS (boot/etfsboot.com, no emulation, 8 sectors, boot info
 *     table) and UEFI (efi/microsoft/boot/efisys.bin) entries, Joliet and UDF (long names;
 *     `-allow-limited-size` for an install.esd past 4 GiB, which only UDF describes in full).
 *
 * Everything happens in a `.windock-esd-*` directory under STORAGE (same filesystem: the ISO is
 * renamed into place whole), removed afterwards and, after a crash, by the next conversion. The
 * programs run with dieWithParent: a killed windock leaves none of them writing.
 */
import { constants } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { describeProgramEnd, runProgram } from '../process/run-program.js';
import { imageFor } from './iso-choice.js';
import { readWimFile, type WimImage } from './wim-metadata.js';

/** Free space a conversion needs, as a multiple of the ESD's size: its copy, the tree and the ISO. */
export const ESD_SPACE_FACTOR = 2.5;
const WORK_PREFIX = '.windock-esd-';
/** Images 1-3 of a catalog ESD are Setup's own; the editions follow (dockur: "images 4 and higher"). */
const FIRST_EDITION = 4;
export const ETFS_BOOT = 'boot/etfsboot.com';
export const EFI_BOOT = 'efi/microsoft/boot/efisys.bin';

export interface EsdConversion {
  esd: string;
  /** The finished ISO's path; its directory is where the work happens. */
  iso: string;
  /** The edition to install, as the catalog entry names it ("Pro", "Enterprise"). */
  edition: string;
  /** The catalog's Edition value (EDITIONID), when no image name matches `edition`. */
  editionId: string;
  /** For the volume label: "en-us". */
  culture: string;
  signal: AbortSignal;
  log: Logger;
}

/** Pure: the image of the edition among an ESD's images, or why there is none. */
export function editionImage(images: readonly WimImage[], edition: string, editionId: string): WimImage | string {
  const setup = images.filter((i) => i.index < FIRST_EDITION);
  if (setup.length < FIRST_EDITION - 1) return `it holds ${images.length} images; a catalog ESD has Setup's three, then the editions`;
  const editions = images.filter((i) => i.index >= FIRST_EDITION);
  const found = imageFor(editions, edition) ?? editions.find((i) => i.editionId?.toLowerCase() === editionId.toLowerCase());
  return found ?? `no image is ${edition} (images: ${editions.map((i) => `${i.index} ${i.name ?? '?'}`).join(', ') || 'none after the first three'})`;
}

/** Pure: the bytes a conversion of an ESD of `esdSize` needs free, of which `present` already lie in STORAGE (a partial or whole download). */
export function esdSpaceNeeded(esdSize: number, present: number): number {
  return Math.ceil(esdSize * ESD_SPACE_FACTOR) + Math.max(0, esdSize - present);
}

/** Refuses, naming the bytes needed and free, when STORAGE cannot hold the download and the conversion. */
export async function checkEsdSpace(dir: string, esdSize: number, present: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const needed = esdSpaceNeeded(esdSize, present);
  if (free >= needed) return;
  throw new AppError('media', `STORAGE ${dir} has ${free} bytes free; building an ISO from a ${esdSize}-byte ESD needs ${needed} (the ESD, its copy in the ISO, the setup files and the ISO)`, {
    hint: 'Free space in STORAGE (or give it a larger volume), or supply the ISO at /boot.iso or via BOOT.',
    details: { dir, free, needed, esdSize },
  });
}

/** Builds the ISO at `request.iso` from the ESD; nothing under that name until it is whole. */
export async function convertEsdToIso(request: EsdConversion): Promise<void> {
  const { esd, iso, signal, log } = request;
  const images = await readWimFile(esd);
  const chosen = editionImage(images, request.edition, request.editionId);
  if (typeof chosen === 'string') throw conversionError(esd, chosen);
  const size = (await stat(esd)).size;
  const storage = dirname(iso);
  await removeLeftovers(storage);
  await checkEsdSpace(storage, size, size);
  const work = await mkdtemp(join(storage, WORK_PREFIX));
  try {
    const tree = join(work, 'media');
    const bootWim = join(tree, 'sources', 'boot.wim');
    const installEsd = join(tree, 'sources', 'install.esd');
    log.info({ esd, image: `${chosen.index} ${chosen.name ?? ''}`.trim(), work }, 'building a Windows Setup ISO from the ESD');
    await wimlib(['apply', esd, '1', tree], 'apply the setup media (image 1)', request);
    for (const file of [ETFS_BOOT, EFI_BOOT]) {
      if (!(await isNonEmpty(join(tree, file)))) throw conversionError(esd, `its setup media (image 1) lacks ${file}, which the ISO boots from`);
    }
    await mkdir(dirname(bootWim), { recursive: true });
    await wimlib(['export', esd, '2', bootWim, '--compress=LZX', '--chunk-size=32K'], 'export Windows PE (image 2) into boot.wim', request);
    await wimlib(['export', esd, '3', bootWim, '--compress=LZX', '--chunk-size=32K', '--boot'], 'export Windows Setup (image 3) into boot.wim', request);
    await copyFile(esd, installEsd, constants.COPYFILE_FICLONE);
    // Descending, so that the indexes still to delete do not move; the edition ends up as image 1.
    for (const image of [...images].reverse()) {
      if (image.index !== chosen.index) await wimlib(['delete', installEsd, String(image.index), '--soft'], `delete image ${image.index} from install.esd`, request);
    }
    const left = await readWimFile(installEsd);
    if (left.length !== 1 || left[0]!.name !== chosen.name) throw conversionError(esd, `install.esd holds ${left.map((i) => i.name).join(', ')} after the other images were deleted, expected only ${chosen.name}`);
    const temp = join(work, `${basename(iso)}.building`);
    await genisoimage(tree, temp, request);
    signal.throwIfAborted();
    await rename(temp, iso);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The ISO's argv (dockur `buildImage`, its non-legacy branch), with `-e` for a UEFI platform entry. */
export function genisoimageArgs(tree: string, output: string, culture: string): string[] {
  return [
    'genisoimage', '-o', output,
    '-b', ETFS_BOOT, '-no-emul-boot', '-boot-load-size', '8', '-boot-info-table', '-c', 'BOOT.CAT',
    '-eltorito-alt-boot', '-e', EFI_BOOT, '-no-emul-boot',
    '-iso-level', '4', '-J', '-l', '-D', '-N', '-joliet-long', '-relaxed-filenames',
    // Microsoft's own label of x64 media (Setup does not read it; tools that show it do).
    '-V', `CCCOMA_X64FRE_${culture.toUpperCase()}_DV9`.slice(0, 32),
    '-udf', '-allow-limited-size', '-quiet', tree,
  ];
}

async function genisoimage(tree: string, output: string, request: EsdConversion): Promise<void> {
  await run(genisoimageArgs(tree, output, request.culture), 'build the ISO', request);
}

async function wimlib(args: string[], what: string, request: EsdConversion): Promise<void> {
  await run(['wimlib-imagex', ...args, '--quiet'], what, request);
}

async function run(argv: string[], what: string, request: EsdConversion): Promise<void> {
  const result = await runProgram(argv, { signal: request.signal, dieWithParent: true });
  // A stop request ends the conversion; it says nothing about the ESD.
  if (result.endedBy === 'abort') request.signal.throwIfAborted();
  if (!result.ok) {
    const output = result.stderr.trim().split('\n').slice(-5).join(' | ');
    throw conversionError(request.esd, `${argv[0]} could not ${what}: ${output || describeProgramEnd(result)}`);
  }
}

/** The work directories of conversions a crash or a kill interrupted. */
async function removeLeftovers(storage: string): Promise<void> {
  for (const name of await readdir(storage)) {
    if (name.startsWith(WORK_PREFIX)) await rm(join(storage, name), { recursive: true, force: true });
  }
}

async function isNonEmpty(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && info.isFile() && info.size > 0;
}

function conversionError(esd: string, what: string): AppError {
  return new AppError('media', `the ESD ${esd} cannot be made into a Windows Setup ISO: ${what}`, {
    hint: 'windock tries the next download source; supply the ISO at /boot.iso or via BOOT if none works.',
    details: { esd },
  });
}
