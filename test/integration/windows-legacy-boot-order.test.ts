/**
 * A SeaBIOS (legacy) Windows install boots the disk before the CD, so that SeaBIOS's own word says
 * which booted — through the real binary, real QEMU (TCG) and Debian's SeaBIOS with the serial
 * console windock enables (fw_cfg etc/sercon-port), one STORAGE across four starts (VERSION=7,
 * the ISO "downloaded before" so that no server is asked).
 *
 * The "setup CD" is real BIOS boot media: an El Torito ISO whose no-emulation boot image is a
 * real-mode program (test/fixtures/bios-boot.ts) printing `windock-cd: booted` through int 10h,
 * as Windows' CD boot program prints its prompt, and SeaBIOS mirrors it to the serial console.
 *  1. A blank disk: SeaBIOS tries the disk, refuses it (`Boot failed: not a bootable disk`), boots
 *     the CD. Not installed.
 *  1b. A disk Setup partitioned but did not finish (its MBR code prints `BOOTMGR is missing`, as
 *     Windows' boot sector does, and halts): the run boots the CD once (QMP qom-set bootindex,
 *     system_reset), presses the key, and puts the CD back behind the disk. Not installed.
 *  2. Setup's work reproduced as it leaves the machine: the disk now boots (the test guest's disk,
 *     by its MBR code), the same CD still attached. `Booting from Hard Disk...`, unrefused, is
 *     recorded as installed; the CD never boots.
 *  3. The next start has neither the CD (Windows 7 is done with it) nor the answer file.
 * The asserts are on windock's log, the serial console it logs and windock.json, never on timing.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildBiosBootCd, buildMbrDisk } from '../fixtures/bios-boot.js';
import { ensureTestGuest, guestCacheDir } from '../fixtures/guest.js';
import { freePort, killRuns, qemuArgv, serialLine, startWindock, tail, tempDir, vmEnv, windockState, type WindockRun } from '../fixtures/windock.js';

const runs: WindockRun[] = [];
let dir = '';
afterAll(async () => {
  await killRuns(runs);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ISO_NAME = 'en_windows_7_ultimate_with_sp1_x64_dvd_u_677332.iso';
const CD_LINE = 'windock-cd: booted';

const line = (run: WindockRun, msg: string) => run.lines.find((l) => l.msg.startsWith(msg));
/** The serial console as windock logged it, one entry per line. */
const consoleOf = (run: WindockRun): string[] => run.lines.filter((l) => l.component === 'serial').map((l) => l.msg);
/** The bootindex QEMU gets for a drive id (`-device …,drive=<id>,…,bootindex=N`). */
function bootIndexOf(argv: string[], id: string): number | undefined {
  const device = argv.find((a) => a.includes(`drive=${id},`) || a.endsWith(`drive=${id}`));
  const match = device ? /bootindex=(\d+)/.exec(device) : null;
  return match ? Number(match[1]) : undefined;
}
/** The system disk becomes a copy of `source`, at the size the install made it. */
function replaceDisk(storage: string, source: string, format: 'qcow2' | 'raw'): void {
  execFileSync('qemu-img', ['convert', '-f', format, '-O', 'qcow2', source, join(storage, 'data.qcow2.new')]);
  execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', join(storage, 'data.qcow2.new'), '1G']);
  execFileSync('mv', [join(storage, 'data.qcow2.new'), join(storage, 'data.qcow2')]);
}
const seen = (run: WindockRun) => `console:\n${consoleOf(run).join('\n')}\nlog tail:\n${tail(run.lines)}`;

it('SeaBIOS with the disk first: a blank disk fails and the CD boots Setup; once the disk boots, "Booting from Hard Disk..." records it installed; the next start has no CD and no answer file', async () => {
  dir = await tempDir('legacy-boot-order');
  await ensureTestGuest();
  const storage = join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const iso = join(storage, ISO_NAME);
  buildBiosBootCd(dir, iso, CD_LINE);
  // What version-media.ts records after a download: the next start reuses the file, asks nobody.
  await writeFile(join(storage, 'windock.json'), `${JSON.stringify({ schema: 1, windows: { version: '7u', language: 'en-US', fileName: ISO_NAME } })}\n`);
  const start = async (): Promise<WindockRun> => {
    const run = startWindock({ env: vmEnv(storage, join(dir, 'run'), await freePort(), { VERSION: '7', DISK_SIZE: '1G', RAM_SIZE: '512M' }) });
    runs.push(run);
    return run;
  };

  // 1. A new, blank disk: SeaBIOS refuses it and boots the CD. The CD's program halts and ignores
  //    the power button, like WinPE: the short ladder, then quit (exit 6).
  const first = await start();
  const order = await first.waitForLine((l) => l.msg.startsWith('boot order:'), 120_000);
  expect(order, tail(first.lines)).toMatchObject({ diskFirst: true });
  await first.waitForLine(serialLine(CD_LINE), 170_000);
  const argv1 = qemuArgv(first.lines);
  const disk1 = bootIndexOf(argv1, 'system');
  const cd1 = bootIndexOf(argv1, 'install');
  expect({ disk: disk1, cd: cd1 }, argv1.join(' ')).toEqual({ disk: 1, cd: 2 });
  expect(argv1.join(' ')).toContain('name=etc/sercon-port');
  expect(argv1.join(' ')).toContain('windock-setup.img');
  const console1 = consoleOf(first);
  const at = (text: string) => console1.findIndex((l) => l.includes(text));
  const steps = ['Booting from Hard Disk...', 'Boot failed: not a bootable disk', 'Booting from DVD/CD...', CD_LINE].map(at);
  expect(steps, seen(first)).toEqual([...steps].sort((a, b) => a - b));
  expect(steps.every((i) => i >= 0), seen(first)).toBe(true);
  expect(line(first, 'the disk is not bootable yet'), seen(first)).toMatchObject({ line: 'Boot failed: not a bootable disk' });
  expect(line(first, 'the install media started'), seen(first)).toBeDefined();
  first.kill('SIGTERM');
  expect((await first.exited).code, seen(first)).toBe(6);
  expect(line(first, 'the firmware started Windows from the disk'), seen(first)).toBeUndefined();
  expect(windockState(storage).install, JSON.stringify(windockState(storage))).toEqual({ mediaAttached: true, bootedFromDisk: false });
  expect(windockState(storage).windowsBoot).toBeUndefined();

  // 1b. Setup partitioned and formatted the disk, then was stopped before it wrote its boot files:
  //     the disk's boot code prints its error and halts. The run gives the CD one turn (the CD
  //     first, a reset), the key is pressed for it, and the CD goes back behind the disk.
  const unfinished = join(dir, 'unfinished.raw');
  buildMbrDisk(unfinished, 'BOOTMGR is missing');
  replaceDisk(storage, unfinished, 'raw');
  const retried = await start();
  await retried.waitForLine((l) => l.msg.startsWith('the install CD is back behind the disk'), 170_000);
  await retried.waitForLine(serialLine(CD_LINE), 170_000);
  expect(line(retried, 'the disk\'s boot code found no Windows'), seen(retried)).toMatchObject({ line: 'BOOTMGR is missing' });
  expect(line(retried, 'the install CD boots first once'), seen(retried)).toBeDefined();
  // Enter for the CD's prompt (five presses, then the log line).
  expect(line(retried, 'the install media is starting: pressing Enter'), seen(retried)).toBeDefined();
  await retried.waitForLine((l) => l.msg.startsWith('keys pressed'), 60_000);
  const console1b = consoleOf(retried);
  const steps1b = ['Booting from Hard Disk...', 'BOOTMGR is missing', 'Booting from DVD/CD...', CD_LINE].map((text) => console1b.findIndex((l) => l.includes(text)));
  expect(steps1b.every((i) => i >= 0) && steps1b.join() === [...steps1b].sort((a, b) => a - b).join(), seen(retried)).toBe(true);
  expect(console1b.filter((l) => l.includes('SeaBIOS (version')).length, 'the guest was reset once').toBe(2);
  retried.kill('SIGTERM');
  expect((await retried.exited).code, seen(retried)).toBe(6);
  expect(line(retried, 'the firmware started Windows from the disk'), seen(retried)).toBeUndefined();
  expect(windockState(storage).windowsBoot, JSON.stringify(windockState(storage))).toBeUndefined();

  // 2. Setup made the disk bootable (here: the test guest's disk); the same CD is still attached.
  replaceDisk(storage, join(guestCacheDir(), 'guest.qcow2'), 'qcow2');
  const second = await start();
  const plan = await second.waitForLine((l) => l.msg === 'Windows install media plan', 120_000);
  expect(plan, tail(second.lines)).toMatchObject({ plan: { installMedia: true, setupImage: true, pressKeys: true } });
  await second.waitForLine((l) => l.msg.startsWith('SeaBIOS starts the disk'), 170_000);
  const booted = await second.waitForLine((l) => l.msg.startsWith('the firmware started Windows from the disk'), 170_000);
  expect(booted, seen(second)).toMatchObject({ firmware: 'seabios', line: 'Booting from Hard Disk...' });
  const argv2 = qemuArgv(second.lines);
  expect(argv2.join(' '), 'the CD is still attached, behind the disk').toContain(ISO_NAME);
  expect((bootIndexOf(argv2, 'system') ?? 99) < (bootIndexOf(argv2, 'install') ?? -1), argv2.join(' ')).toBe(true);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 170_000);
  second.kill('SIGTERM');
  expect((await second.exited).code, seen(second)).toBe(0);
  expect(consoleOf(second).some((l) => l.includes(CD_LINE)), seen(second)).toBe(false);
  expect(line(second, 'the disk is not bootable yet'), seen(second)).toBeUndefined();
  const recorded = windockState(storage);
  expect(recorded, JSON.stringify(recorded)).toMatchObject({
    windowsBoot: { firmware: 'seabios', line: 'Booting from Hard Disk...' },
    install: { mediaAttached: false, bootedFromDisk: true },
  });

  // 3. Installed: Windows 7 is done with its CD after the WinPE phase; neither it nor the answer
  //    file is attached, no key is pressed.
  const third = await start();
  await third.waitForLine(serialLine('windock-guest: acpid ready'), 170_000);
  third.kill('SIGTERM');
  expect((await third.exited).code, seen(third)).toBe(0);
  const argv3 = qemuArgv(third.lines).join(' ');
  expect(argv3, seen(third)).not.toContain(ISO_NAME);
  expect(argv3).not.toContain('windock-setup.img');
  expect(third.lines.some((l) => l.msg.startsWith('keys pressed') || l.msg.startsWith('the install media is starting')), seen(third)).toBe(false);
}, 1_200_000);
