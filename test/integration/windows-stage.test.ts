/**
 * The Windows stage with real qemu-img, mtools and state file: a blank disk gets the setup image
 * and armed key presses; a disk Setup already partitioned keeps the setup image but no presses;
 * an installed Windows gets nothing; the profile picks devices by driver availability.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { RunContext } from '../../src/supervisor/context.js';
import { createLogger } from '../../src/core/log.js';
import type { DriveSpec } from '../../src/qemu/vm-spec.js';
import { StateFile } from '../../src/state/state-file.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { driversAvailable, prepareWindowsInstall, systemDiskNumber, WINDOWS_BOOT_RECORD, windowsProfile } from '../../src/windows/windows-stage.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-winstage-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(env: Record<string, string> = {}): RunContext {
  const config = resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), RAM_SIZE: '4G', ...env });
  const destination = new Writable({ write: (_c, _e, done) => done() });
  return { config, log: createLogger({ level: 'debug', pretty: false, destination }), status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal };
}

async function storageWith(system: DriveSpec) {
  await mkdir(join(dir, 'storage'), { recursive: true });
  await mkdir(join(dir, 'run'), { recursive: true });
  const iso: DriveSpec = { id: 'install', path: join(dir, 'win.iso'), format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 0 };
  return { drives: [system, iso], firmware: { mode: 'secure' as const, code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars: join(dir, 'vars.fd') }, systemDisk: system.path };
}

const env = { MTOOLS_SKIP_CHECK: '1' };

describe('Windows stage', () => {
  it('VERSION=xp on a blank disk: the media boots for a manual install (no answer file exists for it), keys armed', async () => {
    const disk = join(dir, 'storage', 'data.qcow2');
    await mkdir(join(dir, 'storage'), { recursive: true });
    await execa('qemu-img', ['create', '-f', 'qcow2', disk, '1G']);
    const ctx = context({ VERSION: 'xp' });
    const storage = await storageWith({ id: 'system', path: disk, format: 'qcow2', media: 'disk', bus: 'ide', readOnly: false, bootIndex: 1 });
    const win = await prepareWindowsInstall(ctx, { ...storage, firmware: { mode: 'legacy' } }, { oemDir: join(dir, 'no-oem'), driverDir: undefined });
    expect({ ids: win.drives.map((d) => d.id), setup: win.setup, keys: win.plan.pressBootKeys }).toEqual({ ids: ['system', 'install'], setup: undefined, keys: true });
    // SeaBIOS: the disk boots before the CD (a blank disk fails, the CD boots Setup).
    expect(win.drives.map((d) => d.bootIndex)).toEqual([1, 2]);
  });

  it('installed under SeaBIOS: XP keeps its CD behind the disk (GUI-mode setup reads it), without answer file or keys; 7 detaches it', async () => {
    const disk = join(dir, 'storage', 'data.qcow2');
    await mkdir(join(dir, 'storage'), { recursive: true });
    await execa('qemu-img', ['create', '-f', 'qcow2', disk, '1G']);
    const booted = { firmware: 'seabios' as const, at: '2026-12-01T12:00:00.000Z', line: 'Booting from Hard Disk...' };
    for (const [version, keeps] of [['xp', true], ['7', false]] as const) {
      const ctx = context({ VERSION: version });
      await ctx.state.update((s) => {
        s.install = { mediaAttached: true, bootedFromDisk: true, completedAt: booted.at };
        WINDOWS_BOOT_RECORD.put(s, booted);
      });
      const storage = await storageWith({ id: 'system', path: disk, format: 'qcow2', media: 'disk', bus: 'ide', readOnly: false, bootIndex: 1 });
      const win = await prepareWindowsInstall(ctx, { ...storage, firmware: { mode: 'legacy' } }, { oemDir: join(dir, 'no-oem'), driverDir: undefined });
      const seen = JSON.stringify({ version, drives: win.drives, plan: win.plan, state: await ctx.state.read() });
      expect(win.plan, seen).toMatchObject({ installed: true, attachInstallMedia: keeps, attachSetupImage: false, pressBootKeys: false });
      expect(win.drives.map((d) => [d.id, d.bootIndex]), seen).toEqual(keeps ? [['system', 1], ['install', 2]] : [['system', 1]]);
      expect(win.keepsMedia, seen).toBe(keeps);
      expect((await ctx.state.read()).install?.mediaAttached, seen).toBe(keeps);
    }
  });

  it('blank disk: builds the setup image with the answer file, arms the key presses', async () => {
    const disk = join(dir, 'storage', 'data.qcow2');
    await mkdir(join(dir, 'storage'), { recursive: true });
    await execa('qemu-img', ['create', '-f', 'qcow2', disk, '1G']);
    const ctx = context({ VERSION: '11', USERNAME: 'alice', PASSWORD: 'hunter2!' });
    const storage = await storageWith({ id: 'system', path: disk, format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 });
    const win = await prepareWindowsInstall(ctx, storage, { oemDir: join(dir, 'no-oem'), driverDir: undefined });
    expect(win.plan.pressBootKeys).toBe(true);
    expect(win.drives.map((d) => d.id)).toEqual(['system', 'install', 'setup']);
    const xml = (await execa('mtype', ['-i', win.setup!.drive.path, '::/Autounattend.xml'], { env })).stdout;
    // Secure firmware with a TPM and 4 GiB: no check is bypassed.
    expect(xml).not.toContain('LabConfig');
    expect(xml).toContain('<Name>alice</Name>');
    expect(xml).not.toContain('hunter2!');
    expect(win.watcher.feed('BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM QM00001 " from x\r\n')).toMatchObject([{ action: 'press' }]);
  });

  it('disk already partitioned by Setup (interrupted install): the install resumes, setup image and key presses again', async () => {
    const disk = join(dir, 'storage', 'data.img');
    await mkdir(join(dir, 'storage'), { recursive: true });
    const sectors = Buffer.alloc(1024 * 1024);
    sectors.write('EFI PART', 512, 'latin1');
    await writeFile(disk, sectors);
    const ctx = context({ VERSION: '2022' });
    await ctx.state.update((s) => {
      s.install = { mediaAttached: true, bootedFromDisk: false };
    });
    const storage = await storageWith({ id: 'system', path: disk, format: 'raw', media: 'disk', bus: 'sata', readOnly: false, bootIndex: 1 });
    const win = await prepareWindowsInstall(ctx, storage, { oemDir: join(dir, 'no-oem'), driverDir: undefined });
    // The firmware never said it started Windows from this disk: Setup may re-initialise it.
    expect(win.plan).toMatchObject({ attachSetupImage: true, pressBootKeys: true, installed: false });
    expect(win.drives.map((d) => d.id)).toContain('setup');
    expect(win.watcher.feed('Booting from DVD/CD...\r\n')).toMatchObject([{ action: 'press' }]);
  });

  it('no install media attached (Windows installed): nothing added', async () => {
    const ctx = context({ VERSION: '11' });
    const system: DriveSpec = { id: 'system', path: join(dir, 'x.qcow2'), format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 };
    const win = await prepareWindowsInstall(ctx, { drives: [system], firmware: { mode: 'legacy' }, systemDisk: system.path }, { oemDir: '/nonexistent', driverDir: undefined });
    expect(win.drives).toEqual([system]);
    expect(win.setup).toBeUndefined();
    expect(win.plan.pressBootKeys).toBe(false);
  });

  it('profile: Windows 11 wants secure boot; devices follow the drivers', async () => {
    const drivers = join(dir, 'virtio-win');
    await mkdir(join(drivers, 'vioscsi', 'w11', 'amd64'), { recursive: true });
    expect(await driversAvailable(drivers, 'w11')).toBe(true);
    expect(await driversAvailable(drivers, 'w10')).toBe(false);
    expect(windowsProfile({ version: '11', boot: undefined }, true)).toMatchObject({ bootMode: 'secure', disk: 'scsi', nic: 'virtio-net-pci' });
    expect(windowsProfile({ version: '2022', boot: undefined }, false)).toMatchObject({ bootMode: 'uefi', disk: 'sata', nic: 'e1000e' });
    expect(windowsProfile({ version: 'https://x/y.iso', boot: undefined }, true)).toBeUndefined();
    expect(windowsProfile({ version: '11', boot: '/boot.qcow2' }, true)).toBeUndefined();
    expect(systemDiskNumber([{ id: 'system', path: '', format: 'raw', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 }])).toBe(0);
  });
});
