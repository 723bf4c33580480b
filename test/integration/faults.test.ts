/**
 * Faults around the guest's disk, through the real windock binary and the real test guest: the
 * disk fills up while the VM runs. windock says what happened, exits with the contract's code,
 * and no byte of an existing disk is lost.
 */
import { execFile } from 'node:child_process';
import { chmod, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { sha256File } from '../fixtures/digest.js';
import { copyGuestDisk, ensureTestGuest, readShutdownMarker } from '../fixtures/guest.js';
import { freePort, killRuns, serialLine, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';
import { makeTempDirs } from './storage-helpers.js';

const run = promisify(execFile);
const runs: WindockRun[] = [];
const dirs: string[] = [];
const temp = makeTempDirs();

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);
afterEach(async () => {
  await killRuns(runs, dirs);
  temp.cleanup();
});

/** Fills the filesystem holding `dir` to the last byte; returns the filler's path. */
async function fill(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const file = await open(path, 'w');
  const chunk = Buffer.alloc(1 << 20, 0xaa);
  try {
    for (;;) await file.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await file.close().catch(() => undefined);
  }
  // Smaller writes take the last partial MiB too.
  const tail = await open(path, 'a');
  try {
    for (;;) await tail.write(Buffer.alloc(4096, 0xaa));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await tail.close().catch(() => undefined);
  }
  return path;
}

it('a disk that fills up while the VM runs: QEMU pauses the guest, windock says so, nothing on disk is lost, and it boots once there is room', async () => {
  const dir = await tempDir('full');
  dirs.push(dir);
  const base = await copyGuestDisk(join(dir, 'base'), 'golden.qcow2');
  await chmod(base, 0o444);
  const baseDigest = sha256File(base);
  const storage = temp.makeTmpfs('16m');
  const env = vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT: base, BOOT_MODE: 'legacy', SHUTDOWN_TIMEOUT: '6' });

  const first = startWindock({ env });
  runs.push(first);
  await first.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  const filler = await fill(storage);
  // The guest writes its shutdown marker on the power button: the overlay must grow, and cannot.
  first.kill('SIGTERM');
  const exit = await first.exited;
  const seen = tail(first.lines, 40);
  expect(first.lines.some((l) => l.msg === 'STORAGE is full: QEMU paused the VM; free space there and restart the container'), seen).toBe(true);
  expect(exit.code, seen).toBe(6);
  const overlay = join(storage, 'data.qcow2');
  const check = await run('qemu-img', ['check', overlay]).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout}${error.stderr}` }));
  expect(check.stdout).toMatch(/No errors were found/);
  expect(sha256File(base)).toBe(baseDigest);
  expect(await readShutdownMarker(overlay)).toBeNull();

  // Room again: the same overlay boots and shuts down cleanly.
  await rm(filler);
  const second = startWindock({ env });
  runs.push(second);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  second.kill('SIGTERM');
  expect((await second.exited).code, tail(second.lines)).toBe(0);
  expect(await readShutdownMarker(overlay)).toEqual({ count: 1 });
  expect(sha256File(base)).toBe(baseDigest);
});
