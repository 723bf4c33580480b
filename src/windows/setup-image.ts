/**
 * The setup image: a small FAT disk image, attached to the VM as a removable USB disk, holding
 * Autounattend.xml, the user's OEM folder and the virtio drivers in `$WinPEDriver$`. Windows Setup
 * looks for Autounattend.xml at the root of removable drives and loads drivers from
 * `$WinPEDriver$` at the root of any drive into Windows PE and the installed image (Microsoft:
 * "Windows Setup Automation Overview", implicit answer file search order; "Add device drivers to
 * Windows during Windows Setup"). The Windows ISO itself is never rebuilt or copied.
 *
 * Built with dosfstools and mtools (`mkfs.fat -C`, `mmd`, `mcopy`): no mount, no root, no loop
 * device. Written under a temporary name and renamed, so QEMU never sees half an image.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../core/errors.js';
import { describeProgramEnd, runProgram } from '../process/run-program.js';
import type { DiskBus, DriveSpec, NicModel } from '../qemu/vm-spec.js';
import type { CatalogEntry } from './catalog.js';

/** Volume label and the marker file the answer file's commands find the drive by. */
export const SETUP_LABEL = 'WINDOCK';
export const SETUP_MARKER = 'windock-setup.tag';

export interface SetupImageInput {
  /** Where the image goes (RUN_DIR: it is rebuilt on every boot that needs it). */
  path: string;
  answerFile: string;
  /** The user's OEM folder (mounted at /oem); copied to \OEM when it exists and is not empty. */
  oemDir: string | undefined;
  /** virtio-win drivers root (`<driver>/<os>/amd64/…`), when the image bundles them. */
  driverDir: string | undefined;
  /** virtio-win folder of the Windows being installed ("w11", "2k22", …). */
  virtioOs: string | undefined;
  /** The driver architecture folder (x86 for 32-bit Windows); amd64 when unset. */
  arch?: 'amd64' | 'x86';
  signal?: AbortSignal;
}

export interface SetupImage {
  drive: DriveSpec;
  /** Driver folders copied to $WinPEDriver$ (e.g. "vioscsi", "NetKVM"); empty without drivers. */
  drivers: string[];
  /** The OEM folder was copied (its install.bat then runs at first logon). */
  oem: boolean;
}

/**
 * The devices Windows gets: virtio when the drivers ride along on the setup image, else those
 * Windows has inbox drivers for (SATA disk, e1000e NIC). Pure; the reason goes to the log.
 */
export function windowsDevices(entry: CatalogEntry, driversAvailable: boolean): { disk: DiskBus; nic: NicModel; reason: string } {
  return driversAvailable
    ? { ...entry.devices.withDrivers, reason: 'virtio drivers are on the setup image' }
    : {
        ...entry.devices.withoutDrivers,
        reason: `no virtio drivers for this Windows in this image: it gets a ${entry.devices.withoutDrivers.disk.toUpperCase()} disk and an ${entry.devices.withoutDrivers.nic} NIC (slower, but Setup sees them without drivers)`,
      };
}

/** Driver folders present for this OS and architecture: `<root>/<driver>/<os>/<arch>`. */
export async function findDrivers(driverDir: string | undefined, virtioOs: string | undefined, arch: 'amd64' | 'x86' = 'amd64'): Promise<{ name: string; dir: string }[]> {
  if (!driverDir || !virtioOs) return [];
  let names: string[];
  try {
    names = await readdir(driverDir);
  } catch {
    return [];
  }
  const found: { name: string; dir: string }[] = [];
  for (const name of names.sort()) {
    const dir = join(driverDir, name, virtioOs, arch);
    if (await isDir(dir)) found.push({ name, dir });
  }
  return found;
}

export async function buildSetupImage(input: SetupImageInput): Promise<SetupImage> {
  const drivers = await findDrivers(input.driverDir, input.virtioOs, input.arch);
  const oemEntries = input.oemDir ? await listDir(input.oemDir) : [];
  const staging = await mkdtemp(join(dirname(input.path), '.setup-'));
  const temp = join(dirname(input.path), `.${basename(input.path)}.${randomUUID()}.tmp`);
  try {
    const answer = join(staging, 'Autounattend.xml');
    const marker = join(staging, SETUP_MARKER);
    await writeFile(answer, input.answerFile);
    await writeFile(marker, 'windock setup image\r\n');

    const payload =
      (await treeSize(answer)) +
      (await treeSize(marker)) +
      (await sum(oemEntries.map((e) => treeSize(join(input.oemDir!, e))))) +
      (await sum(drivers.map((d) => treeSize(d.dir))));
    // Room for FAT tables, directories and cluster slack: a quarter more plus 4 MiB; at least 8 MiB.
    const kib = Math.max(8 * 1024, Math.ceil((payload * 1.25) / 1024) + 4 * 1024);
    const fat32 = kib > 512 * 1024 ? ['-F', '32'] : [];
    await run('mkfs.fat', ['-C', ...fat32, '-n', SETUP_LABEL, temp, String(kib)], input.signal);

    await run('mcopy', ['-i', temp, '-o', answer, marker, '::/'], input.signal);
    if (oemEntries.length > 0) {
      await run('mmd', ['-i', temp, '::/OEM'], input.signal);
      await run('mcopy', ['-i', temp, '-s', '-o', ...oemEntries.map((e) => join(input.oemDir!, e)), '::/OEM/'], input.signal);
    }
    if (drivers.length > 0) {
      await run('mmd', ['-i', temp, '::/$WinPEDriver$'], input.signal);
      for (const driver of drivers) {
        await run('mmd', ['-i', temp, `::/$WinPEDriver$/${driver.name}`], input.signal);
        const files = (await listDir(driver.dir)).map((f) => join(driver.dir, f));
        if (files.length > 0) await run('mcopy', ['-i', temp, '-s', '-o', ...files, `::/$WinPEDriver$/${driver.name}/`], input.signal);
      }
    }
    await rename(temp, input.path);
  } finally {
    await rm(temp, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
  return {
    // Removable: QEMU's usb-storage (bus is not used for removable media by the argv builder).
    // Read-only: Setup only reads it, and a guest can never alter what windock generated.
    drive: { id: 'setup', path: input.path, format: 'raw', media: 'removable', bus: 'sata', readOnly: true, bootIndex: undefined },
    drivers: drivers.map((d) => d.name),
    oem: oemEntries.length > 0,
  };
}

async function run(file: string, args: string[], signal: AbortSignal | undefined): Promise<void> {
  // MTOOLS_SKIP_CHECK: images made by mkfs.fat have no CHS geometry mtools would insist on.
  const result = await runProgram([file, ...args], { env: { MTOOLS_SKIP_CHECK: '1' }, timeoutMs: 120_000, signal });
  // A stop request ends the build; it is not a failure of the build.
  if (result.endedBy === 'abort') signal?.throwIfAborted();
  if (!result.ok) {
    const missing = result.endedBy === 'start-failed' || result.exitCode === 127;
    throw new AppError('internal', `${file} failed while building the Windows setup image: ${result.stderr.trim() || describeProgramEnd(result, 120_000)}`, {
      hint: missing ? 'Install the Debian packages "dosfstools" and "mtools".' : 'Check that RUN_DIR is writable and has free space.',
      details: { program: file, args },
    });
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function treeSize(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  // Directory entries take room too: count a cluster-ish 4 KiB per directory.
  let total = 4096;
  for (const name of await readdir(path)) total += await treeSize(join(path, name));
  return total;
}

async function sum(values: Promise<number>[]): Promise<number> {
  return (await Promise.all(values)).reduce((a, b) => a + b, 0);
}
