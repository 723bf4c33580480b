/**
 * Extra disks and ballooning through the real binary and the test guest (TCG): DISK2_SIZE in a
 * mounted /storage2, DISK3_SIZE in STORAGE, an image at /disk4.img and a block device as DEVICE5
 * each reach the guest, which reports every disk it sees; a restart keeps them and a smaller
 * DISK2_SIZE is refused. With BALLOONING=Y, memory the guest frees goes back to the host: QEMU's
 * resident size falls after the guest deletes what it wrote.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../fixtures/child.js';
import { ensureTestGuest } from '../fixtures/guest.js';
import { detachLoops, loopDevice } from '../fixtures/loop-device.js';
import { freePort, killRuns, pollUntil, qemuArgv, serialLine, startWindock, tail, tempDir, vmEnv, type LogLine, type WindockRun } from '../fixtures/windock.js';

const MiB = 2 ** 20;
const runs: WindockRun[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);
afterEach(async () => {
  await killRuns(runs, dirs);
  detachLoops();
});

function disksSeen(lines: LogLine[]): number[] {
  return lines
    .filter((l) => l.component === 'serial')
    .map((l) => /windock-guest: disk \S+ size=(\d+)/.exec(l.msg)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Ends a run and waits until its QEMU is gone too (its disk locks with it), for the next run. */
async function endRun(run: WindockRun): Promise<void> {
  const pid = run.lines.find((l) => l.msg === 'QEMU started')?.['pid'] as number | undefined;
  await killRuns(runs);
  if (pid !== undefined) await pollUntil(async () => processAlive(pid), (alive) => !alive, 30_000);
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

describe('extra disks', () => {
  it('attaches DISK2_SIZE (/storage2), DISK3_SIZE (STORAGE), /disk4.img and DEVICE5, keeps them on restart, never shrinks', async () => {
    const dir = await tempDir('disks');
    dirs.push(dir);
    const storage = join(dir, 'storage');
    const mounts = join(dir, 'root');
    await mkdir(join(mounts, 'storage2'), { recursive: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(mounts, 'disk4.img'), '40M']);
    const loop = loopDevice(join(dir, 'loop.img'), '56M');
    const env = vmEnv(storage, join(dir, 'run'), await freePort(), {
      // BOOT: the guest image as a read-only base under an overlay (no Windows profile).
      BOOT: await ensureTestGuest(), BOOT_MODE: 'legacy',
      MOUNT_ROOT: mounts, DISK_SIZE: '64M', DISK2_SIZE: '32M', DISK3_SIZE: '48M', DEVICE5: loop,
    });

    const first = startWindock({ env });
    runs.push(first);
    await first.waitForLine(serialLine('disks listed'), 300_000);
    expect(disksSeen(first.lines), tail(first.lines, 40)).toEqual([32, 40, 48, 56, 64].map((m) => m * MiB));
    expect((await stat(join(mounts, 'storage2', 'data2.qcow2'))).isFile()).toBe(true);
    expect((await stat(join(storage, 'data3.qcow2'))).isFile()).toBe(true);
    await endRun(first);

    // A restart with DISK3_SIZE grown: the same disks, disk 3 larger, nothing re-created.
    const second = startWindock({ env: { ...env, DISK3_SIZE: '80M' } });
    runs.push(second);
    await second.waitForLine(serialLine('disks listed'), 300_000);
    expect(disksSeen(second.lines), tail(second.lines, 40)).toEqual([32, 40, 56, 64, 80].map((m) => m * MiB));
    await endRun(second);

    const shrink = startWindock({ env: { ...env, DISK2_SIZE: '16M' } });
    runs.push(shrink);
    const exit = await shrink.exited;
    const text = tail(shrink.lines, 10) + shrink.stderr();
    expect(exit.code, text).toBe(2);
    expect(text).toContain('DISK2_SIZE must be at least the size of the existing disk');
    expect(JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', join(mounts, 'storage2', 'data2.qcow2')], { encoding: 'utf8' }))['virtual-size']).toBe(32 * MiB);
  }, 900_000);
});

describe('ballooning', () => {
  it('gives the memory the guest frees back to the host (free page reporting)', async () => {
    const dir = await tempDir('balloon');
    dirs.push(dir);
    const storage = join(dir, 'storage');
    const fill = 160;
    const run = startWindock({
      env: vmEnv(storage, join(dir, 'run'), await freePort(), {
        BOOT: await ensureTestGuest(), BOOT_MODE: 'legacy', RAM_SIZE: '384M', BALLOONING: 'Y', ARGUMENTS: `-fw_cfg name=opt/windock/fill-mib,string=${fill}`,
      }),
    });
    runs.push(run);
    const qemu = await run.waitForLine((l) => l.msg === 'QEMU started', 120_000);
    const pid = qemu['pid'] as number;
    const argv = qemuArgv(run.lines);
    expect(argv, tail(run.lines)).toContain('virtio-balloon-pci,id=balloon0,free-page-reporting=on,deflate-on-oom=on');

    await run.waitForLine(serialLine('memory filled'), 300_000);
    const filled = await rssBytes(pid);
    await run.waitForLine(serialLine('memory freed'), 60_000);
    // Page reporting runs a few seconds after pages are freed (mm/page_reporting.c delay); the
    // resident size must fall by at least half of what the guest wrote and freed.
    const seen = await pollUntil(() => rssBytes(pid), (rss) => rss < filled - (fill / 2) * MiB, 60_000, 500);
    expect(seen.at(-1)!, `RSS after fill ${filled}, then ${seen.map((b) => Math.round(b / MiB)).join(' ')} MiB`).toBeLessThan(filled - (fill / 2) * MiB);
  }, 400_000);
});
