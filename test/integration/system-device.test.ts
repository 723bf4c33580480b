/**
 * DEVICE (dockur's name) as the system disk, with real loop devices and the real binary (TCG): a
 * device holding an OS is booted raw as it is (host_device, never resized, whatever DISK_SIZE
 * says); a blank device gets the install, ISO first; a blank device never has a disk image
 * written onto it; a device with data is never handed to an installer.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestGuest } from '../fixtures/guest.js';
import { detachLoops, loopDevice } from '../fixtures/loop-device.js';
import { freePort, killRuns, qemuArgv, serialLine, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

const runs: WindockRun[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);
afterEach(async () => {
  await killRuns(runs, dirs);
  detachLoops();
});

const digestOf = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

describe('DEVICE as the system disk', () => {
  it('boots a device that holds an OS raw as it is, and leaves DISK_SIZE unused', async () => {
    const dir = await tempDir('device');
    dirs.push(dir);
    const loop = loopDevice(join(dir, 'disk.raw'), '200M');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', '-n', await ensureTestGuest(), loop]);
    const storage = join(dir, 'storage');
    const run = startWindock({ env: vmEnv(storage, join(dir, 'run'), await freePort(), { DEVICE: loop, VERSION: '11', BOOT_MODE: 'legacy', DISK_TYPE: 'scsi', DISK_SIZE: '300G' }) });
    runs.push(run);
    await run.waitForLine(serialLine('windock-guest: booted'), 300_000);
    const argv = qemuArgv(run.lines).join(' ');
    expect(argv, tail(run.lines)).toContain(`driver=host_device,filename=${loop}`);
    expect(argv).not.toContain('data.qcow2');
    expect(argv, 'no install media for a device that holds an OS').not.toContain('ide-cd');
    expect(run.lines.some((l) => l.msg === 'leave DISK_SIZE unused'), tail(run.lines)).toBe(true);
    expect(run.lines.some((l) => l.msg === 'boot the block device'), tail(run.lines)).toBe(true);
    expect(execFileSync('blockdev', ['--getsize64', loop], { encoding: 'utf8' }).trim()).toBe(String(200 * 2 ** 20));
  }, 600_000);

  it('installs onto a blank device from an ISO (SeaBIOS: the device first, its blank MBR hands over to the ISO) and records the install', async () => {
    const dir = await tempDir('device-blank');
    dirs.push(dir);
    const loop = loopDevice(join(dir, 'blank.raw'), '64M');
    await mkdir(join(dir, 'iso'));
    await writeFile(join(dir, 'iso', 'readme.txt'), 'not bootable\n');
    const iso = join(dir, 'setup.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, join(dir, 'iso')]);
    const storage = join(dir, 'storage');
    const run = startWindock({ env: vmEnv(storage, join(dir, 'run'), await freePort(), { DEVICE: loop, BOOT: iso, BOOT_MODE: 'legacy' }) });
    runs.push(run);
    await run.waitForLine((l) => l.msg === 'QEMU started', 120_000);
    const argv = qemuArgv(run.lines);
    const cd = argv.find((a) => a.startsWith('ide-cd,drive=install'));
    const system = argv.find((a) => a.includes('drive=system') && a.startsWith('scsi-hd'));
    // windows/install-state.ts: under SeaBIOS the disk goes first while installing, so that
    // "Booting from Hard Disk..." can say when the install reached the disk.
    expect(system, argv.join(' ')).toContain('bootindex=1');
    expect(cd, argv.join(' ')).toContain('bootindex=2');
    expect(argv.join(' ')).toContain(`driver=host_device,filename=${loop}`);
    const state = JSON.parse(await readFile(join(storage, 'windock.json'), 'utf8')) as { install?: { mediaAttached: boolean; bootedFromDisk: boolean } };
    expect(state.install, JSON.stringify(state)).toEqual({ mediaAttached: true, bootedFromDisk: false });
    expect(run.lines.some((l) => l.msg === 'install onto the block device'), tail(run.lines)).toBe(true);
  }, 300_000);

  it('refuses to write a disk image onto a blank device (exit 2) and leaves it untouched', async () => {
    const dir = await tempDir('device-image');
    dirs.push(dir);
    const loop = loopDevice(join(dir, 'blank.raw'), '64M');
    const before = await digestOf(loop);
    const run = startWindock({ env: vmEnv(join(dir, 'storage'), join(dir, 'run'), await freePort(), { DEVICE: loop, BOOT: await ensureTestGuest(), BOOT_MODE: 'legacy' }) });
    runs.push(run);
    const exit = await run.exited;
    const text = tail(run.lines, 10) + run.stderr();
    expect(exit.code, text).toBe(2);
    expect(text).toContain('windock does not write an image onto a device');
    expect(await digestOf(loop)).toBe(before);
  }, 120_000);

  it('refuses a DEVICE that is not a block device (exit 2, naming it)', async () => {
    const dir = await tempDir('device-file');
    dirs.push(dir);
    const file = join(dir, 'plain.img');
    execFileSync('truncate', ['-s', '16M', file]);
    const run = startWindock({ env: vmEnv(join(dir, 'storage'), join(dir, 'run'), await freePort(), { DEVICE: file, VERSION: '11', BOOT_MODE: 'legacy' }) });
    runs.push(run);
    const exit = await run.exited;
    const text = tail(run.lines, 10) + run.stderr();
    expect(exit.code, text).toBe(2);
    expect(text).toContain(`DEVICE must name a block device, got ${file} (file)`);
  }, 120_000);
});
