/**
 * An install interrupted during Setup's WinPE phase, resumed, finished by the firmware's word, and
 * cleaned up with REMOVE=Y — through the real binary, real QEMU (TCG) and Debian's OVMF, one
 * STORAGE across four starts (VERSION=11, BOOT_MODE=uefi, the ISO "downloaded before" so that no
 * server is asked).
 *
 * The artefacts are real, not text fed to a parser:
 *  - the "setup CD" is an ISO built here whose El Torito EFI image holds the test guest's own
 *    kernel as \EFI\BOOT\BOOTX64.EFI: OVMF starts it as it starts Windows' cdboot, and with fw_cfg
 *    opt/windock/ignore-acpi the guest ignores the power button as WinPE does;
 *  - Setup's work at the end of WinPE is reproduced the way it leaves the machine: the system disk
 *    now holds a bootable OS (the test guest's disk), and the UEFI variable store windock keeps in
 *    STORAGE gets the "Windows Boot Manager" boot option bcdboot writes, pointing at the disk's
 *    partition by HD() (test/fixtures/ovmf-vars.ts; efibootmgr cannot run here). The setup CD is
 *    replaced by one that does not boot, so OVMF goes on to the next option, as it does when
 *    Windows' "Press any key" prompt times out. The line windock reads is then OVMF's own:
 *    `BdsDxe: starting Boot0009 "Windows Boot Manager" from HD(1,MBR,…)/\EFI\BOOT\BOOTX64.EFI`.
 * A second case does the same under SeaBIOS from an install record left in progress: the disk
 * boots before the CD (a SeaBIOS install's order), SeaBIOS says `Booting from Hard Disk...` on the
 * serial console windock enabled (fw_cfg etc/sercon-port), and that line, unrefused by the disk's
 * boot code, is recorded (windows-legacy-boot-order.test.ts has the rest of the SeaBIOS side).
 * The asserts are on windock's log and windock.json, never on timing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ensureTestGuest, guestCacheDir } from '../fixtures/guest.js';
import { addBootEntry } from '../fixtures/ovmf-vars.js';
import { freePort, killRuns, qemuArgv, serialLine, startWindock, tail, tempDir, vmEnv, windockState, type WindockRun } from '../fixtures/windock.js';

const runs: WindockRun[] = [];
let dir = '';
afterAll(async () => {
  await killRuns(runs);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ISO_NAME = 'Win11_24H2_English_x64.iso';
/** The test guest's MBR disk (build-guest.sh): its signature and partition 1, the ESP. */
const GUEST_ESP = { mbrSignature: 0x57444b31, number: 1, start: 2048, sectors: 124928 };

/** An ISO with an El Torito EFI boot image holding `loader` as \EFI\BOOT\BOOTX64.EFI (none: not bootable). */
function buildIso(work: string, target: string, loader: string | undefined): void {
  const tree = join(work, 'tree');
  execFileSync('rm', ['-rf', tree]);
  execFileSync('mkdir', ['-p', join(tree, 'sources')]);
  execFileSync('sh', ['-c', 'echo windock test media > "$1"', 'sh', join(tree, 'sources', 'readme.txt')]);
  const boot = loader ? ['-e', 'efiboot.img', '-no-emul-boot'] : [];
  if (loader) {
    const img = join(tree, 'efiboot.img');
    execFileSync('mkfs.fat', ['-C', img, String(16 * 1024)], { stdio: 'ignore' });
    const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
    execFileSync('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT'], { env });
    execFileSync('mcopy', ['-i', img, loader, '::/EFI/BOOT/BOOTX64.EFI'], { env });
  }
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', target, '-V', 'CCCOMA_X64FRE_EN-US_DV9', ...boot, tree], { stdio: 'ignore' });
}

const line = (run: WindockRun, msg: string) => run.lines.find((l) => l.msg === msg);

it('a stop during WinPE takes the short ladder and the install resumes; once OVMF starts "Windows Boot Manager" from the disk the media and answer file are gone; REMOVE=Y deletes only windock\'s own download', async () => {
  dir = await tempDir('install-recovery');
  await ensureTestGuest();
  const storage = join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const iso = join(storage, ISO_NAME);
  const loader = join(dir, 'BOOTX64.EFI');
  execFileSync('mcopy', ['-i', `${join(guestCacheDir(), 'guest.raw')}@@1M`, '::/EFI/BOOT/BOOTX64.EFI', loader], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  buildIso(dir, iso, loader);
  // What version-media.ts records after a download: the next start reuses the file, asks nobody.
  await writeFile(join(storage, 'windock.json'), `${JSON.stringify({ schema: 1, windows: { version: '11', language: 'en-US', fileName: ISO_NAME } })}\n`);
  // The user's own ISO beside it, which REMOVE=Y must never touch.
  const userIso = join(storage, 'custom.iso');
  await copyFile(iso, userIso);
  const start = async (extra: Record<string, string>): Promise<WindockRun> => {
    const env = vmEnv(storage, join(dir, 'run'), await freePort(), { VERSION: '11', BOOT_MODE: 'uefi', DISK_SIZE: '1G', RAM_SIZE: '512M', ...extra });
    const run = startWindock({ env });
    runs.push(run);
    return run;
  };

  // 1. A new install: the setup CD boots (WinPE), then `docker stop`. WinPE ignores the button:
  //    the short ladder, then quit (exit 6).
  const first = await start({ ARGUMENTS: '-fw_cfg name=opt/windock/ignore-acpi,string=1' });
  await first.waitForLine((l) => l.msg.startsWith('the install media started'), 170_000);
  await first.waitForLine(serialLine('windock-guest: acpid ready (power button will be ignored'), 170_000);
  first.kill('SIGTERM');
  const firstExit = await first.exited;
  expect(firstExit.code, tail(first.lines)).toBe(6);
  expect(line(first, 'stop ladder chosen'), tail(first.lines)).toMatchObject({ ladder: 'short', guestMs: 5_000 });
  expect(qemuArgv(first.lines).join(' '), 'the ISO and the setup image were attached').toContain(ISO_NAME);
  expect(qemuArgv(first.lines).join(' ')).toContain('windock-setup.img');
  expect(windockState(storage).install, JSON.stringify(windockState(storage))).toEqual({ mediaAttached: true, bootedFromDisk: false });
  expect(windockState(storage).windowsBoot).toBeUndefined();

  // 2. Setup's WinPE phase completes (see the header): the disk holds an OS, NVRAM names it
  //    "Windows Boot Manager", the CD no longer boots. The next start still resumes the install
  //    (media, answer file, keys), and OVMF's own line marks it installed.
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', join(guestCacheDir(), 'guest.qcow2'), join(storage, 'data.qcow2.new')]);
  execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', join(storage, 'data.qcow2.new'), '1G']);
  execFileSync('mv', [join(storage, 'data.qcow2.new'), join(storage, 'data.qcow2')]);
  await addBootEntry(join(storage, 'uefi-vars.fd'), { number: 9, description: 'Windows Boot Manager', partition: GUEST_ESP, file: '\\EFI\\BOOT\\BOOTX64.EFI' });
  buildIso(dir, iso, undefined);
  const second = await start({});
  const plan = await second.waitForLine((l) => l.msg === 'Windows install media plan', 60_000);
  expect(plan, tail(second.lines)).toMatchObject({ plan: { installMedia: true, setupImage: true, pressKeys: true } });
  expect(String(plan['reason'])).toContain('has not started Windows from this disk');
  const booted = await second.waitForLine((l) => l.msg.startsWith('the firmware started Windows from the disk'), 170_000);
  expect(booted['line'], tail(second.lines)).toMatch(/^BdsDxe: starting Boot0009 "Windows Boot Manager" from HD\(1,MBR,0x57444B31,0x800,0x1E800\)\/\\EFI\\BOOT\\BOOTX64\.EFI$/);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 170_000);
  second.kill('SIGTERM');
  expect((await second.exited).code, tail(second.lines)).toBe(0);
  expect(line(second, 'stop ladder chosen'), tail(second.lines)).toMatchObject({ ladder: 'full' });
  const recorded = windockState(storage);
  expect(recorded.windowsBoot, JSON.stringify(recorded)).toMatchObject({ firmware: 'ovmf', line: booted['line'] });
  expect(recorded.install).toMatchObject({ mediaAttached: false, bootedFromDisk: true, completedAt: recorded.windowsBoot?.['at'] });

  // 3. Installed: neither the ISO nor the setup image (with its disk-wiping answer file) is
  //    attached, no key is pressed; REMOVE=Y deletes the ISO windock downloaded, not the user's.
  const third = await start({ REMOVE: 'Y' });
  const removed = await third.waitForLine((l) => l.msg.startsWith('REMOVE=Y: deleted the install ISO'), 60_000);
  expect(removed, tail(third.lines)).toMatchObject({ file: iso });
  expect(Number(removed['freedBytes'])).toBeGreaterThan(0);
  await third.waitForLine(serialLine('windock-guest: acpid ready'), 170_000);
  third.kill('SIGTERM');
  expect((await third.exited).code, tail(third.lines)).toBe(0);
  const argv = qemuArgv(third.lines).join(' ');
  expect(argv, tail(third.lines)).not.toContain(ISO_NAME);
  expect(argv).not.toContain('windock-setup.img');
  expect(third.lines.some((l) => l.msg.startsWith('keys pressed') || l.msg.startsWith('the install media is starting'))).toBe(false);
  expect(existsSync(iso), 'the downloaded ISO is gone').toBe(false);
  expect(existsSync(userIso), "the user's ISO stays").toBe(true);
}, 1_200_000);

it('SeaBIOS: an install in progress resumes with the media attached, and "Booting from Hard Disk..." on the real serial console (the CD did not boot) records it installed', async () => {
  const base = await tempDir('install-recovery-bios');
  const storage = join(base, 'storage');
  await mkdir(storage, { recursive: true });
  const iso = join(storage, ISO_NAME);
  buildIso(base, iso, undefined);
  // The disk Setup wrote (the test guest's, booting by its MBR code), and the record of an install
  // not yet seen booting from it.
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', join(guestCacheDir(), 'guest.qcow2'), join(storage, 'data.qcow2')]);
  await writeFile(join(storage, 'windock.json'), `${JSON.stringify({
    schema: 1,
    windows: { version: '11', language: 'en-US', fileName: ISO_NAME },
    media: { source: 'https://software.example/Win11_24H2_English_x64.iso', kind: 'iso', path: iso },
    install: { mediaAttached: true, bootedFromDisk: false },
    bootMode: 'legacy',
    diskBus: 'sata',
  })}\n`);
  const env = vmEnv(storage, join(base, 'run'), await freePort(), { VERSION: '11', BOOT_MODE: 'legacy', RAM_SIZE: '512M' });
  const run = startWindock({ env });
  runs.push(run);
  try {
    const plan = await run.waitForLine((l) => l.msg === 'Windows install media plan', 60_000);
    expect(plan, tail(run.lines)).toMatchObject({ plan: { installMedia: true, setupImage: true, pressKeys: true } });
    await run.waitForLine((l) => l.msg === 'QEMU command line', 60_000);
    const argv = qemuArgv(run.lines).join(' ');
    expect(argv, tail(run.lines)).toContain(ISO_NAME);
    expect(argv).toContain('name=etc/sercon-port');
    const booted = await run.waitForLine((l) => l.msg.startsWith('the firmware started Windows from the disk'), 170_000);
    expect(booted, tail(run.lines)).toMatchObject({ firmware: 'seabios', line: 'Booting from Hard Disk...' });
    await run.waitForLine(serialLine('windock-guest: acpid ready'), 170_000);
    run.kill('SIGTERM');
    expect((await run.exited).code, tail(run.lines)).toBe(0);
    expect(windockState(storage), JSON.stringify(windockState(storage))).toMatchObject({
      windowsBoot: { firmware: 'seabios', line: 'Booting from Hard Disk...' },
      install: { mediaAttached: false, bootedFromDisk: true },
    });
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}, 600_000);

