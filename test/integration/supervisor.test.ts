/**
 * The supervisor end to end: the real `windock` binary boots the real test guest under TCG
 * (NETWORK=none), answers /health, turns SIGTERM into an ACPI power button press, and exits with
 * the code the contract gives for each ending.
 */
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { copyGuestDisk, ensureTestGuest, readShutdownMarker } from '../fixtures/guest.js';
import {
  freePort,
  httpStatus,
  killRuns,
  pollUntil,
  serialLine,
  startWindock,
  tempDir,
  vmEnv,
  type WindockRun,
} from '../fixtures/windock.js';

const run = promisify(execFile);
const runs: WindockRun[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);

afterEach(async () => {
  await killRuns(runs, dirs);
});

async function bootGuest(extra: Record<string, string>): Promise<{ run: WindockRun; storage: string; port: number; disk: string }> {
  const dir = await tempDir('sup');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  const disk = await copyGuestDisk(storage);
  const port = await freePort();
  const windock = startWindock({ env: vmEnv(storage, join(dir, 'run'), port, extra) });
  runs.push(windock);
  return { run: windock, storage, port, disk };
}

const healthOf = (port: number) => () => httpStatus(`http://127.0.0.1:${port}/health`).then((r) => r.status);

describe.each(['legacy', 'uefi'] as const)('BOOT_MODE=%s', (mode) => {
  it('boots the guest, reports /health 503 then 200, and powers it off on SIGTERM with exit 0', async () => {
    const { run: windock, port, disk } = await bootGuest({ BOOT_MODE: mode });
    // The server answers before the VM runs: a 503 comes first, then 200 once QMP says running.
    const seen = await pollUntil(healthOf(port), (s) => s === 200, 60_000, 20);
    expect(seen.filter((s) => s !== 0)[0]).toBe(503);
    await windock.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
    expect((await httpStatus(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);

    windock.kill('SIGTERM');
    const exit = await windock.exited;
    expect(exit.code).toBe(0);
    expect(windock.lines.some(serialLine('windock-guest: power button pressed'))).toBe(true);
    expect(await readShutdownMarker(disk)).toEqual({ count: 1 });
  });
});

it('stops a guest that ignores the power button by force after SHUTDOWN_TIMEOUT: exit 6, disk intact', async () => {
  const { run: windock, disk } = await bootGuest({
    BOOT_MODE: 'legacy',
    SHUTDOWN_TIMEOUT: '4',
    ARGUMENTS: '-fw_cfg name=opt/windock/ignore-acpi,string=1',
  });
  await windock.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  windock.kill('SIGTERM');
  const exit = await windock.exited;
  expect(exit.code).toBe(6);
  expect(windock.lines.some(serialLine('windock-guest: ignoring power button'))).toBe(true);
  expect(windock.lines.some((l) => l.step === 'quit')).toBe(true);
  expect(await readShutdownMarker(disk)).toBeNull();
  // `qemu-img check` exits 0 only for an image without errors or leaks.
  const check = await run('qemu-img', ['check', disk]);
  expect(check.stdout).toMatch(/No errors were found/);
});

it('skips to the hard stop on a second signal', async () => {
  const { run: windock } = await bootGuest({
    BOOT_MODE: 'legacy',
    SHUTDOWN_TIMEOUT: '600',
    ARGUMENTS: '-fw_cfg name=opt/windock/ignore-acpi,string=1',
  });
  await windock.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  windock.kill('SIGTERM');
  await windock.waitForLine((l) => l.step === 'powerdown', 10_000);
  windock.kill('SIGINT');
  const exit = await windock.exited;
  expect(exit.code).toBe(6);
  const forced = windock.lines.find((l) => l.msg === 'second stop request: forcing the stop');
  expect(forced).toBeDefined();
});

it('ends with exit 0 when the guest powers itself off', async () => {
  const { run: windock, disk } = await bootGuest({ BOOT_MODE: 'legacy', ARGUMENTS: '-fw_cfg name=opt/windock/poweroff-after,string=1' });
  const exit = await windock.exited;
  expect(exit.code).toBe(0);
  expect(windock.lines.some((l) => l.msg === 'the guest powered itself off')).toBe(true);
  expect(await readShutdownMarker(disk)).toEqual({ count: 1 });
});

it('keeps running across a guest reboot', async () => {
  const { run: windock, port, disk } = await bootGuest({ BOOT_MODE: 'legacy', ARGUMENTS: '-fw_cfg name=opt/windock/reboot-after,string=1' });
  await windock.waitForLine((l) => l.event === 'RESET', 120_000);
  // After the reboot the guest comes back and windock still supervises it.
  await windock.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  expect((await httpStatus(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  windock.kill('SIGTERM');
  expect((await windock.exited).code).toBe(0);
  expect(await readShutdownMarker(disk)).toEqual({ count: 1 });
});

it('reports a QEMU crash with exit 5 and QEMU\'s last words', async () => {
  const { run: windock } = await bootGuest({ BOOT_MODE: 'legacy' });
  const started = await windock.waitForLine((l) => l.msg === 'QEMU started', 60_000);
  await windock.waitForLine((l) => l.msg === 'the VM is running', 60_000);
  process.kill(started.pid as number, 'SIGKILL');
  const exit = await windock.exited;
  expect(exit.code).toBe(5);
  const crash = windock.lines.find((l) => l.level === 50 && /QEMU was killed by SIGKILL/.test(l.msg));
  expect(crash).toBeDefined();
});

it('QEMU does not outlive a SIGKILLed windock', async () => {
  const { run: windock } = await bootGuest({ BOOT_MODE: 'legacy' });
  const started = await windock.waitForLine((l) => l.msg === 'QEMU started', 60_000);
  const qemuPid = started.pid as number;
  windock.kill('SIGKILL');
  await windock.exited;
  // The parent-death signal reaches QEMU at once; give it a moment to flush and exit.
  await pollUntil(async () => processExists(qemuPid), (alive) => !alive, 15_000, 100);
});

it('a stop request before QEMU exists ends the run cleanly with exit 0', async () => {
  const dir = await tempDir('early');
  dirs.push(dir);
  const port = await freePort();
  // A server that accepts and never answers: windock waits on the download until the stop.
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as AddressInfo).port;
  const windock = startWindock({
    env: vmEnv(join(dir, 'storage'), join(dir, 'run'), port, { BOOT: `http://127.0.0.1:${silentPort}/never.iso` }),
  });
  runs.push(windock);
  onTestFinished(() => {
    silent.closeAllConnections();
    silent.close();
  });
  await pollUntil(() => httpStatus(`http://127.0.0.1:${port}/health/live`).then((r) => r.status), (s) => s === 200, 30_000, 50);
  windock.kill('SIGTERM');
  const exit = await windock.exited;
  expect(exit.code).toBe(0);
  expect(windock.lines.some((l) => l.msg === 'QEMU started')).toBe(false);
});

describe('invalid settings', () => {
  const cases: [string, string, RegExp][] = [
    ['RAM_SIZE', 'lots', /RAM_SIZE must be a size such as "512M" or "4G", a number of GB such as "8", "half" or "max", got "lots"/],
    ['CPU_CORES', '0', /CPU_CORES must be a whole number of cores from 1 to 1024, "half" or "max", got "0"/],
    ['DISK_FMT', 'zip', /DISK_FMT must be one of "qcow2", "raw", got "zip"/],
    ['KVM', 'maybe', /KVM must be "Y" or "N", got "maybe"/],
    ['BOOT_MODE', 'bios', /BOOT_MODE must be one of "uefi", .*"secure", .*"legacy", .*got "bios"/],
    ['SHUTDOWN_TIMEOUT', '-1', /SHUTDOWN_TIMEOUT must be a whole number of seconds from 0 to 86400, got "-1"/],
    ['NETWORK', 'bridge', /NETWORK must be one of "tap", .*"user", .*"none", .*got "bridge"/],
    ['WEB_PORT', '70000', /WEB_PORT must be a port number from 1 to 65535, got "70000"/],
  ];
  it.each(cases)('%s=%s exits 2 naming the variable, the value and the form, touching nothing', async (name, value, message) => {
    const dir = await tempDir('bad');
    dirs.push(dir);
    const storage = join(dir, 'storage');
    await copyGuestDisk(storage);
    const before = await snapshotDir(storage);
    const started = Date.now();
    const windock = startWindock({ env: { ...vmEnv(storage, join(dir, 'run'), await freePort()), [name]: value } });
    const exit = await windock.exited;
    expect(exit.code).toBe(2);
    expect(windock.stderr()).toMatch(message);
    expect(Date.now() - started).toBeLessThan(5_000); // generous: "within a second" on a quiet machine
    expect(await snapshotDir(storage)).toEqual(before);
    await expect(stat(join(dir, 'run'))).rejects.toThrow(/ENOENT/);
  });
});

it('KVM=Y without a usable /dev/kvm exits 3 with the fix', async () => {
  const dir = await tempDir('nokvm');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  await copyGuestDisk(storage);
  const { HIDE_KVM } = await import('../fixtures/windock.js');
  const windock = startWindock({
    // /dev/kvm is /dev/null in a private mount namespace: present as a path, not the KVM device.
    prefix: ['unshare', '--mount', '--propagation', 'private', '--', process.execPath, HIDE_KVM],
    env: vmEnv(storage, join(dir, 'run'), await freePort(), { KVM: 'Y' }),
  });
  const exit = await windock.exited;
  expect(exit.code).toBe(3);
  const error = windock.lines.find((l) => l.level === 50 && l.exitCode === 3);
  expect(error?.msg).toMatch(/kvm/i);
  expect(String(error?.hint)).toContain('--device /dev/kvm');
  expect(String(error?.hint)).toContain('KVM=N');
});

async function snapshotDir(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of await readdir(dir)) out[name] = (await stat(join(dir, name))).mtimeMs;
  return out;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
