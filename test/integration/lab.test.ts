/**
 * The lab features through the real binary and the real test guest under TCG: snapshots over the
 * control socket (`windock snapshot ...` run next to the supervisor, as `docker exec` would),
 * EPHEMERAL=Y with `windock reset`, and `windock export` into a new golden BOOT base.
 *
 * The marker: the test guest counts each power-button shutdown in its marker partition
 * (fixtures/guest.ts). A count of 1 after "save, shut down (count 1), revert, shut down" means the
 * revert brought back both the disk and the guest's memory from before the first shutdown.
 */
import { execFile } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { sha256File } from '../fixtures/digest.js';
import { copyGuestDisk, ensureTestGuest, readShutdownMarker } from '../fixtures/guest.js';
import { CLI, freePort, killRuns, serialLine, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';
import { imageInfo } from './storage-helpers.js';

const runs: WindockRun[] = [];
const dirs: string[] = [];
const exec = promisify(execFile);

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);

afterEach(async () => {
  await killRuns(runs, dirs);
});

/** `windock ARGS` beside the supervisor (same STORAGE and RUN_DIR), as `docker exec` runs it. */
async function windock(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', STORAGE: env.STORAGE!, RUN_DIR: env.RUN_DIR!, ...(env.EPHEMERAL ? { EPHEMERAL: env.EPHEMERAL } : {}) },
      timeout: 300_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function start(env: Record<string, string>): WindockRun {
  const run = startWindock({ env });
  runs.push(run);
  return run;
}

async function stopAndExpectClean(run: WindockRun): Promise<void> {
  run.kill('SIGTERM');
  const exit = await run.exited;
  expect(exit.code, tail(run.lines)).toBe(0);
}

const snapshotsIn = (disk: string): string[] =>
  ((imageInfo(disk)['snapshots'] as { name: string }[] | undefined) ?? []).map((s) => s.name);

it('save, then a marker, then revert: the marker is gone, the snapshot stays, the newest state is kept as auto-before-revert (UEFI)', async () => {
  const dir = await tempDir('lab-snap');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  const disk = await copyGuestDisk(storage);
  const env = vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT_MODE: 'uefi' });

  const first = start(env);
  await first.waitForLine(serialLine('windock-guest: marker area dev='), 240_000);
  await first.waitForLine(serialLine('windock-guest: acpid ready'), 60_000);
  expect(first.lines.some(serialLine('shutdowns=0'))).toBe(true);
  const saved = await windock(env, 'snapshot', 'save', 'clean');
  expect(saved, tail(first.lines)).toMatchObject({ code: 0, stdout: 'saved snapshot clean\n' });
  // A name is never reused: the second save is refused with exit 2 and the first is intact.
  const again = await windock(env, 'snapshot', 'save', 'clean');
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('exists already');
  await stopAndExpectClean(first);
  expect(await readShutdownMarker(disk)).toEqual({ count: 1 });

  const second = start(env);
  await second.waitForLine(serialLine('windock-guest: marker area dev='), 240_000);
  expect(second.lines.some(serialLine('shutdowns=1'))).toBe(true);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 60_000);
  const reverted = await windock(env, 'snapshot', 'revert', 'clean');
  expect(reverted.code, `${reverted.stderr}\n${tail(second.lines)}`).toBe(0);
  expect(reverted.stdout).toMatch(/^saved snapshot auto-before-revert-\d{8}-\d{6}\nreverted to snapshot clean\n$/);
  // On the disk, at once: the running guest's disk is the snapshot's again (read with -U).
  expect(await readShutdownMarker(disk)).toBeNull();
  const listed = await windock(env, 'snapshot', 'list');
  expect(listed.stdout).toMatch(/^clean +\S+ +[\d.]+ MiB VM state\nauto-before-revert-/);
  await stopAndExpectClean(second);

  // The guest came back with the state of before the first shutdown: it counted from 0 again.
  expect(second.lines.some(serialLine('windock-guest: marker written count=1'))).toBe(true);
  expect(await readShutdownMarker(disk)).toEqual({ count: 1 });
  const names = snapshotsIn(disk);
  expect(names[0]).toBe('clean');
  expect(names.some((n) => n.startsWith('auto-before-revert-'))).toBe(true);

  // No supervisor any more: the command says so instead of hanging.
  const offline = await windock(env, 'snapshot', 'list');
  expect(offline.code).toBe(2);
  expect(offline.stderr).toContain('no windock supervisor answers on');
});

it('EPHEMERAL=Y forgets a marker across a restart, reset powers on the golden state, and neither the base nor data.qcow2 changes', async () => {
  const dir = await tempDir('lab-eph');
  dirs.push(dir);
  const base = await copyGuestDisk(join(dir, 'base'), 'golden.qcow2');
  await chmod(base, 0o444);
  const baseDigest = sha256File(base);
  const storage = join(dir, 'storage');
  const env = vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT: base, BOOT_MODE: 'legacy', DISK_SIZE: '64M', EPHEMERAL: 'Y' });

  const first = start(env);
  await first.waitForLine(serialLine('windock-guest: acpid ready'), 240_000);
  await stopAndExpectClean(first);
  expect(first.lines.some(serialLine('windock-guest: marker written count=1'))).toBe(true);
  const disk = join(storage, 'data.qcow2');
  const diskDigest = sha256File(disk);
  expect(await readShutdownMarker(join(storage, 'ephemeral.qcow2'))).toEqual({ count: 1 });
  expect(await readShutdownMarker(disk)).toBeNull();

  const second = start(env);
  await second.waitForLine(serialLine('windock-guest: marker area dev='), 240_000);
  expect(second.lines.some(serialLine('shutdowns=0')), tail(second.lines)).toBe(true);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 60_000);
  const reset = await windock(env, 'reset');
  expect(reset, tail(second.lines)).toMatchObject({ code: 0, stdout: 'reverted to snapshot golden\n' });
  // The golden snapshot was taken before the first instruction: a reset boots the guest anew.
  await second.waitForLine((l) => serialLine('windock-guest: booted')(l) && second.lines.filter(serialLine('windock-guest: booted')).length === 2, 240_000);
  await second.waitForLine((l) => serialLine('windock-guest: acpid ready')(l) && second.lines.filter(serialLine('windock-guest: acpid ready')).length === 2, 120_000);
  await stopAndExpectClean(second);

  expect(sha256File(base)).toBe(baseDigest);
  expect(sha256File(disk)).toBe(diskDigest);
  expect(await readShutdownMarker(disk)).toBeNull();
});

it('export flattens the disk into a compressed qcow2 that boots as a new BOOT base; it refuses while the guest runs', async () => {
  const dir = await tempDir('lab-export');
  dirs.push(dir);
  const base = await copyGuestDisk(join(dir, 'base'), 'install.qcow2');
  const storage = join(dir, 'storage');
  const env = vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT: base, BOOT_MODE: 'legacy', DISK_SIZE: '64M' });
  const golden = join(dir, 'golden.qcow2');

  const first = start(env);
  await first.waitForLine(serialLine('windock-guest: acpid ready'), 240_000);
  const refused = await windock(env, 'export', golden);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('export needs the guest shut down');
  await stopAndExpectClean(first);

  const exported = await windock(env, 'export', golden);
  expect(exported, exported.stderr).toMatchObject({ code: 0 });
  expect(exported.stdout).toContain(`to ${golden}`);
  const info = imageInfo(golden);
  expect(info['format']).toBe('qcow2');
  expect(info['backing-filename']).toBeUndefined();
  expect((await stat(golden)).size).toBeLessThan((await stat(base)).size);
  expect(await readShutdownMarker(golden)).toEqual({ count: 1 });
  // Never over an existing file.
  expect((await windock(env, 'export', golden)).stderr).toContain('exists already');

  const lab = join(dir, 'lab');
  const labEnv = vmEnv(lab, join(dir, 'run-lab'), await freePort(), { BOOT: golden, BOOT_MODE: 'legacy', DISK_SIZE: '64M' });
  const goldenDigest = sha256File(golden);
  const second = start(labEnv);
  await second.waitForLine(serialLine('windock-guest: marker area dev='), 240_000);
  expect(second.lines.some(serialLine('shutdowns=1')), tail(second.lines)).toBe(true);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 60_000);
  await stopAndExpectClean(second);
  expect(await readShutdownMarker(join(lab, 'data.qcow2'))).toEqual({ count: 2 });
  expect(sha256File(golden)).toBe(goldenDigest);
});
