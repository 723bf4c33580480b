/**
 * The golden-image path through the real binary: two windock instances boot the test guest from
 * one read-only BOOT qcow2 at the same time, each writing only to its own overlay.
 */
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { sha256File } from '../fixtures/digest.js';
import { copyGuestDisk, readShutdownMarker } from '../fixtures/guest.js';
import { freePort, killRuns, serialLine, startWindock, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';
import { execFileSync } from 'node:child_process';

const runs: WindockRun[] = [];
let dir = '';
afterAll(async () => {
  await killRuns(runs);
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('boots two containers from one base at once; each overlay gets its own marker, the base is unchanged', async () => {
  dir = await tempDir('golden');
  const base = await copyGuestDisk(join(dir, 'base'), 'golden.qcow2');
  await chmod(base, 0o444);
  const before = sha256File(base);

  const instances = await Promise.all(
    ['a', 'b'].map(async (name) => {
      const storage = join(dir, name);
      const windock = startWindock({ env: vmEnv(storage, join(dir, `run-${name}`), await freePort(), { BOOT: base, BOOT_MODE: 'legacy', DISK_SIZE: '64M' }) });
      runs.push(windock);
      return { storage, windock };
    }),
  );
  for (const { windock } of instances) await windock.waitForLine(serialLine('windock-guest: acpid ready'), 180_000);
  for (const { windock } of instances) windock.kill('SIGTERM');
  for (const { storage, windock } of instances) {
    expect((await windock.exited).code).toBe(0);
    const overlay = join(storage, 'data.qcow2');
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', overlay], { encoding: 'utf8' })) as { 'backing-filename'?: string };
    expect(info['backing-filename']).toBe(base);
    expect(await readShutdownMarker(overlay)).toEqual({ count: 1 });
  }
  expect(await readShutdownMarker(base)).toBeNull();
  expect(sha256File(base)).toBe(before);
});
