/**
 * dockur's DEVICE: a block device passed into the container (`--device /dev/sdX:/dev/disk1`) as
 * the system disk instead of STORAGE/data.qcow2. Looked for as DEVICE, else /disk1 or /dev/disk1
 * when one is a block device (qemus/qemu src/disk.sh). A device is attached raw as it is: never
 * created, resized, converted or checked; and Windows is installed onto it only when it is blank.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/options.js';
import { AppError } from '../core/errors.js';
import { kindOf } from './extra-disks-observe.js';
import { partitionScheme } from './partition.js';
import type { QemuImg } from './qemu-img.js';
import type { ObservedDisk } from './storage-plan.js';

/** What is read to tell a blank device from one holding data: the partition tables and boot sectors live here. */
const BLANK_PROBE_BYTES = 1 << 20;

export async function observeSystemDevice(
  config: Pick<Config, 'device' | 'mountRoot'>,
  qemuImg: QemuImg,
  signal: AbortSignal,
): Promise<ObservedDisk | undefined> {
  const path = await findDevice(config);
  if (!path) return undefined;
  // qemu-img reads a block device's size (stat(2) gives 0 for one).
  const info = await qemuImg.info(path, 'raw', { signal });
  const head = await readHead(path);
  return {
    path,
    format: 'raw',
    virtualSize: info.virtualSize,
    backingFile: undefined,
    partitionScheme: partitionScheme(head),
    device: { blank: head.every((byte) => byte === 0) },
  };
}

async function findDevice(config: Pick<Config, 'device' | 'mountRoot'>): Promise<string | undefined> {
  if (config.device !== undefined) {
    const kind = await kindOf(config.device);
    if (kind !== 'block') {
      throw new AppError('config', `DEVICE must name a block device, got ${config.device} (${kind})`, {
        hint: `Pass the device into the container (docker run --device /dev/sdX:${config.device}) or unset DEVICE.`,
        details: { variable: 'DEVICE', path: config.device },
      });
    }
    return config.device;
  }
  for (const path of [join(config.mountRoot, 'disk1'), join(config.mountRoot, 'dev', 'disk1')]) {
    if ((await kindOf(path)) === 'block') return path;
  }
  return undefined;
}

async function readHead(path: string): Promise<Uint8Array> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(BLANK_PROBE_BYTES);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}
