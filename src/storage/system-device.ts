/**
 * dockur's DEVICE: a block device passed into the container (`--device /dev/sdX:/dev/disk1`) as
 * the system disk instead of STORAGE/data.qcow2. Looked for as DEVICE, else /disk1 or /dev/disk1
 * when one is a block device (qemus/qemu src/disk.sh). A device is attached raw as it is: never
 * created, resized, converted or checked; and Windows is installed onto it only when it is blank.
 */
import type { Config } from '../config/options.js';
import { findBlockDevice } from './extra-disks-observe.js';
import { readAt } from './media.js';
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
  const path = await findBlockDevice('DEVICE', config.device, config.mountRoot, 'disk1');
  if (!path) return undefined;
  // qemu-img reads a block device's size (stat(2) gives 0 for one).
  const info = await qemuImg.info(path, 'raw', { signal });
  const head = await readAt(path, 0, BLANK_PROBE_BYTES);
  return {
    path,
    format: 'raw',
    virtualSize: info.virtualSize,
    backingFile: undefined,
    partitionScheme: partitionScheme(head),
    device: { blank: head.every((byte) => byte === 0) },
  };
}
