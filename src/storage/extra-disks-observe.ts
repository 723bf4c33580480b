/**
 * Observes disks 2 to 6 for the pure plan (extra-disks.ts): which of dockur's sources is present
 * for each number. Paths are dockur's, under MOUNT_ROOT (`/` in the container; a temp directory
 * in tests): DEVICEn, /diskN and /dev/diskN (block devices), /diskN.{img,raw,qcow2} and
 * /dataN.{img,raw,qcow2} (images), then windock's own dataN.qcow2/dataN.img in /storageN or STORAGE.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/options.js';
import { AppError } from '../core/errors.js';
import { EXTRA_DISK_NUMBERS, managedDiskName, type ExtraDiskNumber, type ExtraDiskObservation, type ExtraDiskSource } from './extra-disks.js';
import type { QemuImg } from './qemu-img.js';

export type ExtraDiskSettings = Pick<
  Config,
  'storage' | 'mountRoot' | 'disk2Size' | 'disk3Size' | 'disk4Size' | 'disk5Size' | 'disk6Size' | 'device2' | 'device3' | 'device4' | 'device5' | 'device6'
>;

type Kind = 'block' | 'file' | 'dir' | 'missing' | 'other';

async function kindOf(path: string): Promise<Kind> {
  try {
    const s = await stat(path);
    return s.isBlockDevice() ? 'block' : s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
  } catch {
    return 'missing';
  }
}

function settingsOf(config: ExtraDiskSettings, n: ExtraDiskNumber): { size: number | undefined; device: string | undefined } {
  const size = { 2: config.disk2Size, 3: config.disk3Size, 4: config.disk4Size, 5: config.disk5Size, 6: config.disk6Size }[n];
  const device = { 2: config.device2, 3: config.device3, 4: config.device4, 5: config.device5, 6: config.device6 }[n];
  return { size, device };
}

/**
 * dockur's block device for one disk: the one the variable names (which must be one: exit 2
 * otherwise), else `/<name>` or `/dev/<name>` under `root` when either is a block device.
 */
export async function findBlockDevice(variable: string, setting: string | undefined, root: string, name: string): Promise<string | undefined> {
  if (setting !== undefined) {
    const kind = await kindOf(setting);
    if (kind !== 'block') {
      throw new AppError('config', `${variable} must name a block device, got ${setting} (${kind})`, {
        hint: `Pass the device into the container (docker run --device /dev/sdX:${setting}) or unset ${variable}.`,
        details: { variable, path: setting },
      });
    }
    return setting;
  }
  for (const path of [join(root, name), join(root, 'dev', name)]) {
    if ((await kindOf(path)) === 'block') return path;
  }
  return undefined;
}

export async function observeExtraDisks(config: ExtraDiskSettings, qemuImg: QemuImg): Promise<ExtraDiskObservation[]> {
  const found: ExtraDiskObservation[] = [];
  for (const n of EXTRA_DISK_NUMBERS) {
    const { size, device } = settingsOf(config, n);
    found.push({ number: n, size, source: await observeOne(config, n, device, qemuImg) });
  }
  return found;
}

async function observeOne(config: ExtraDiskSettings, n: ExtraDiskNumber, device: string | undefined, qemuImg: QemuImg): Promise<ExtraDiskSource> {
  const root = config.mountRoot;
  const path = await findBlockDevice(`DEVICE${n}`, device, root, `disk${n}`);
  if (path) return { kind: 'device', path };
  for (const base of [`data${n}`, `disk${n}`]) {
    for (const [ext, format] of [['img', 'raw'], ['raw', 'raw'], ['qcow2', 'qcow2']] as const) {
      const path = join(root, `${base}.${ext}`);
      if ((await kindOf(path)) === 'file') return { kind: 'image', path, format };
    }
  }
  const mounted = join(root, `storage${n}`);
  const dirIsMount = (await kindOf(mounted)) === 'dir';
  for (const dir of dirIsMount ? [mounted, config.storage] : [config.storage]) {
    for (const format of ['qcow2', 'raw'] as const) {
      const path = join(dir, managedDiskName(n, format));
      if ((await kindOf(path)) === 'file') {
        const info = await qemuImg.info(path, format);
        return { kind: 'managed', path, format, virtualSize: info.virtualSize };
      }
    }
  }
  return { kind: 'none', dir: dirIsMount ? mounted : config.storage, dirIsMount };
}
