/**
 * A swtpm that cannot start, in a whole run (runApp with the real stages): the real swtpm, run as
 * an unprivileged user through a wrapper, fails to create its control socket in the root-only
 * RUN_DIR ("Could not open UnixIO socket: Permission denied").
 *
 * - Windows 11 on a new disk: one warning naming that error, UEFI without secure boot and without
 *   a TPM (plain OVMF, its own variable store, recorded in windock.json), an answer file that
 *   bypasses Setup's TPM and Secure Boot checks, and a real QEMU that boots the install media:
 *   an ISO carrying the test guest's unsigned UEFI image, which only boots with secure boot off.
 *   `docker stop` (a stop request) then powers the guest off: exit 0.
 * - A disk whose firmware was recorded as secure, and a BOOT image with BOOT_MODE=secure: the run
 *   ends with swtpm's error (exit 3) before any firmware file is made or QEMU starts.
 */
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runApp, type AppAdapters } from '../../src/app.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { createLogger } from '../../src/core/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { StopRequests } from '../../src/supervisor/stop-requests.js';
import { DEFAULT_TPM_DEPS, startTpm } from '../../src/tpm/swtpm.js';
import { TPM_FALLBACK_WARNING } from '../../src/tpm/tpm-stage.js';
import { createWindowsProfile } from '../../src/windows/windows-profile.js';
import { copyGuestDisk, ensureTestGuest } from '../fixtures/guest.js';
import { freePort, qemuArgv, tempDir } from '../fixtures/windock.js';
import { buildWim, WINDOWS_11_MULTI } from '../fixtures/windows-iso.js';

const MTOOLS = { MTOOLS_SKIP_CHECK: '1' };
/** The test guest's raw disk: partition 1 (its ESP) starts at sector 2048 (build-guest.sh). */
const GUEST_ESP_OFFSET = 2048 * 512;

let dir: string;
beforeEach(async () => {
  dir = await tempDir('tpm-fallback');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Line {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The real swtpm as user nobody: it cannot create its socket in RUN_DIR (0700, root). */
async function failingSwtpm(): Promise<string> {
  const wrapper = join(dir, 'swtpm-as-nobody');
  await writeFile(wrapper, '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups swtpm "$@"\n');
  await chmod(wrapper, 0o755);
  return wrapper;
}

/** An ISO that boots under UEFI into the test guest (its unified kernel image as the El Torito EFI image) and reads as Windows 11 media. */
async function guestIso(): Promise<string> {
  const raw = (await ensureTestGuest()).replace(/\.qcow2$/, '.raw');
  const tree = join(dir, 'iso-tree');
  await mkdir(tree, { recursive: true });
  const efi = join(dir, 'BOOTX64.EFI');
  await execa('mcopy', ['-i', `${raw}@@${GUEST_ESP_OFFSET}`, '::/EFI/BOOT/BOOTX64.EFI', efi], { env: MTOOLS });
  const image = join(tree, 'efiboot.img');
  const kib = Math.ceil((await stat(efi)).size / 1024) + 2048;
  await execa('mkfs.fat', ['-C', image, String(kib)]);
  await execa('mmd', ['-i', image, '::/EFI', '::/EFI/BOOT'], { env: MTOOLS });
  await execa('mcopy', ['-i', image, efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: MTOOLS });
  // Windows 11 Setup media as far as windock reads it: sources/install.wim with Windows 11 images.
  await mkdir(join(tree, 'sources'));
  await rename(await buildWim(dir, WINDOWS_11_MULTI), join(tree, 'sources', 'install.wim'));
  const iso = join(dir, 'win11.iso');
  await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'WINDOCK_TEST', '-e', 'efiboot.img', '-no-emul-boot', tree]);
  return iso;
}

function run(env: Record<string, string>, adapters: Partial<AppAdapters>) {
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  const destination = new Writable({
    write(chunk, _e, done) {
      lines.push(JSON.parse(String(chunk)) as Line);
      for (const wake of waiters) wake();
      done();
    },
  });
  const log = createLogger({ level: 'debug', pretty: false, destination });
  const stop = new StopRequests();
  const config = resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), KVM: 'N', CPU_CORES: '1', NETWORK: 'none', WEB_AUTH: 'N', ...env });
  const exited = runApp({ config, log, stop, adapters });
  const seen = () => lines.slice(-15).map((l) => `${l.level} ${l.msg} ${JSON.stringify({ ...l, msg: undefined, level: undefined, time: undefined, pid: undefined, hostname: undefined })}`).join('\n');
  const waitFor = (match: (line: Line) => boolean, ms: number): Promise<Line> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found) finish(() => resolve(found));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no such log line within ${ms} ms; last lines:\n${seen()}`))), ms);
      const finish = (action: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        action();
      };
      waiters.add(check);
      void exited.then(() => setTimeout(() => finish(() => reject(new Error(`the run ended first; last lines:\n${seen()}`))), 10));
      check();
    });
  return { lines, stop, exited, seen, waitFor };
}

const tpmFails = (program: string): Partial<AppAdapters> => ({ startTpm: (ctx) => startTpm(ctx, { ...DEFAULT_TPM_DEPS, program }) });

describe('a swtpm that cannot start', () => {
  it('Windows 11 on a new disk: falls back to UEFI without secure boot or a TPM, Setup\'s checks bypassed, and QEMU boots', async () => {
    const iso = await guestIso();
    const r = run(
      { VERSION: '11', RAM_SIZE: '256M', WEB_PORT: String(await freePort()), SHUTDOWN_TIMEOUT: '60' },
      {
        ...tpmFails(await failingSwtpm()),
        // The real Windows profile, with the install media from a file instead of Microsoft.
        loadGuest: async (config, log) => ({ ...(await createWindowsProfile(config, log)), versionMedia: async () => ({ kind: 'path', path: iso }) }),
      },
    );
    try {
      // Booted from the install media: an unsigned EFI image, which secure boot would refuse.
      await r.waitFor((l) => l.msg.includes('windock-guest: acpid ready'), 240_000);
      const warnings = r.lines.filter((l) => l.level === 40 && l['component'] === 'swtpm');
      expect(warnings, r.seen()).toEqual([expect.objectContaining({ msg: TPM_FALLBACK_WARNING, bootMode: 'uefi' })]);
      expect(String(warnings[0]?.['err']), r.seen()).toContain('Could not open UnixIO socket: Permission denied');

      const argv = qemuArgv(r.lines);
      expect(argv.some((a) => a.includes('filename=/usr/share/OVMF/OVMF_CODE_4M.fd')), argv.join(' ')).toBe(true);
      expect(argv.some((a) => a.includes(join(dir, 'storage', 'uefi-vars.fd'))), argv.join(' ')).toBe(true);
      expect(argv.filter((a) => a === '-tpmdev' || /secboot|smm=on|property=secure/.test(a)), argv.join(' ')).toEqual([]);
      expect(JSON.parse(await readFile(join(dir, 'storage', 'windock.json'), 'utf8'))).toMatchObject({ bootMode: 'uefi' });
      await expect(stat(join(dir, 'storage', 'uefi-vars-secure.fd'))).rejects.toMatchObject({ code: 'ENOENT' });

      const xml = (await execa('mtype', ['-i', join(dir, 'run', 'windock-setup.img'), '::/Autounattend.xml'], { env: MTOOLS })).stdout;
      for (const value of ['BypassTPMCheck', 'BypassSecureBootCheck', 'BypassRAMCheck']) {
        expect(xml).toContain(`reg.exe add "HKLM\\SYSTEM\\Setup\\LabConfig" /v ${value} /t REG_DWORD /d 1 /f`);
      }
      // GPT for UEFI: the EFI system partition.
      expect(xml).toContain('<Type>EFI</Type>');

      // A stop while the install media runs: Setup ignores the power button, so the short ladder
      // (install-state.ts); this guest may or may not power off within it (0, or 6 forced).
      r.stop.request('SIGTERM');
      expect([0, 6], r.seen()).toContain(await r.exited);
      expect(r.lines.find((l) => l.msg === 'stop ladder chosen')?.['ladder'], r.seen()).toBe('short');
    } finally {
      r.stop.request('SIGTERM');
      r.stop.request('SIGTERM');
      await r.exited;
    }
  });

  it('a disk recorded as secure keeps the exit with swtpm\'s error: no firmware switch, no QEMU', async () => {
    await copyGuestDisk(join(dir, 'storage'));
    await new StateFile(join(dir, 'storage')).update((s) => {
      s.bootMode = 'secure';
    });
    const r = run({ VERSION: '11', RAM_SIZE: '4G', WEB_PORT: String(await freePort()) }, tpmFails(await failingSwtpm()));
    expect(await r.exited, r.seen()).toBe(3);
    const failure = r.lines.find((l) => l.level >= 50 && String(l['err'] ?? l.msg).includes('Could not open UnixIO socket'));
    expect(failure, r.seen()).toBeDefined();
    expect(JSON.stringify(failure)).toContain('the disk was set up with secure boot and a TPM');
    expect(r.lines.filter((l) => l.msg === TPM_FALLBACK_WARNING || l.msg === 'QEMU started'), r.seen()).toEqual([]);
    expect(JSON.parse(await readFile(join(dir, 'storage', 'windock.json'), 'utf8'))).toMatchObject({ bootMode: 'secure' });
    await expect(stat(join(dir, 'storage', 'uefi-vars.fd'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a BOOT image with BOOT_MODE=secure keeps the exit with swtpm\'s error', async () => {
    const boot = await copyGuestDisk(dir, 'boot.qcow2');
    const r = run({ BOOT: boot, BOOT_MODE: 'secure', RAM_SIZE: '256M', WEB_PORT: String(await freePort()) }, tpmFails(await failingSwtpm()));
    expect(await r.exited, r.seen()).toBe(3);
    expect(r.lines.filter((l) => l.msg === TPM_FALLBACK_WARNING || l.msg === 'QEMU started'), r.seen()).toEqual([]);
    expect(r.seen()).toContain('Could not open UnixIO socket');
  });
});
