/**
 * Faults around the guest's disk, through the real windock binary and the real test guest: the
 * disk fills up while the VM runs, the system disk is a truncated qcow2, a disk left open by a
 * SIGKILL. windock says what happened, exits with the contract's code, and no byte of an existing
 * disk is lost.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { processAlive } from '../fixtures/child.js';
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

it('a truncated qcow2 system disk: exit 4 naming it and what qemu-img check found; the file is left exactly as it was', async () => {
  const dir = await tempDir('trunc');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  const disk = await copyGuestDisk(storage);
  await truncate(disk, Math.floor((await stat(disk)).size / 3));
  const before = { digest: sha256File(disk), size: (await stat(disk)).size };
  const windock = startWindock({ env: vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT_MODE: 'legacy' }) });
  runs.push(windock);
  const exit = await windock.exited;
  const seen = `${tail(windock.lines, 30)}\n${windock.stderr()}`;
  expect(exit.code, seen).toBe(4);
  const error = windock.lines.find((l) => l.level === 50 && l.exitCode === 4);
  expect(String(error?.msg), seen).toMatch(/data\.qcow2 is damaged: qemu-img check found \d+ errors/);
  expect(String(error?.hint), seen).toContain('does not repair');
  expect(windock.lines.some((l) => l.msg === 'QEMU started'), seen).toBe(false);
  expect({ digest: sha256File(disk), size: (await stat(disk)).size }).toEqual(before);
});

it('checks a disk only when no run closed it cleanly: after a clean stop, none; after a SIGKILL, one', async () => {
  const dir = await tempDir('closed');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  await copyGuestDisk(storage);
  const env = vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT_MODE: 'legacy' });
  const checked = (r: WindockRun) => r.lines.filter((l) => l.msg === 'disk checked');

  const first = startWindock({ env });
  runs.push(first);
  await first.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  expect(checked(first).map((l) => l.why), tail(first.lines)).toEqual(['windock has not closed this disk before']);
  first.kill('SIGTERM');
  expect((await first.exited).code, tail(first.lines)).toBe(0);

  const second = startWindock({ env });
  runs.push(second);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  expect(checked(second), tail(second.lines)).toEqual([]);
  second.kill('SIGKILL');
  await second.exited;

  const third = startWindock({ env });
  runs.push(third);
  await third.waitForLine((l) => l.msg === 'QEMU started', 120_000);
  expect(checked(third).map((l) => [l.why, l.result]), tail(third.lines)).toEqual([['the last run did not close it cleanly', 'clean']]);
});

it('a stop while qemu-img runs (preparation): exit 0, QEMU never started, qemu-img ended', async () => {
  const dir = await tempDir('prep');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  await copyGuestDisk(storage);
  // A qemu-img that hangs on its first call (a slow disk, a huge conversion): it records its pid
  // and becomes `sleep`, so the pid is the process windock must end.
  const bin = join(dir, 'bin');
  const mark = join(dir, 'qemu-img.pid');
  const real = (await run('sh', ['-c', 'command -v qemu-img'])).stdout.trim();
  await mkdir(bin);
  await writeFile(join(bin, 'qemu-img'), `#!/bin/sh\nif [ ! -e "${mark}" ]; then echo $$ > "${mark}"; exec sleep 600; fi\nexec "${real}" "$@"\n`, { mode: 0o755 });
  const env = { ...vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT_MODE: 'legacy' }), PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const windock = startWindock({ env });
  runs.push(windock);
  const pid = await waitForPid(mark, 60_000);
  windock.kill('SIGTERM');
  const exit = await windock.exited;
  const seen = tail(windock.lines, 30);
  expect(exit.code, seen).toBe(0);
  expect(windock.lines.some((l) => l.msg === 'QEMU started'), seen).toBe(false);
  expect(windock.lines.some((l) => l.msg === 'stopped before the VM started'), seen).toBe(true);
  expect(processAlive(pid), `qemu-img (pid ${pid}) still running`).toBe(false);
});

async function waitForPid(path: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (/^\d+\s*$/.test(text)) return Number(text);
    if (Date.now() > deadline) throw new Error(`${path} never named a pid`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
