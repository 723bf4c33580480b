/**
 * The last-resort path: a bug inside windock (an exception or a rejection nobody handled) must
 * cost the guest a clean shutdown, never its power. The real windock binary boots the real test
 * guest; a preload (test/fixtures/fault-on-signal.mjs) throws on windock's own event loop on
 * demand. A helper's death stops the VM through the failure path too, and a `docker stop` that
 * follows must still be a first request (the full power-button wait), not a hard stop.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { copyGuestDisk, ensureTestGuest, readShutdownMarker } from '../fixtures/guest.js';
import { FAULT_ON_SIGNAL, freePort, killRuns, serialLine, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

const runs: WindockRun[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);

afterEach(async () => {
  await killRuns(runs, dirs);
});

async function bootGuest(extra: Record<string, string>): Promise<{ run: WindockRun; disk: string; dir: string }> {
  const dir = await tempDir('fatal');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  const disk = await copyGuestDisk(storage);
  const windock = startWindock({ env: vmEnv(storage, join(dir, 'run'), await freePort(), extra), nodeArgs: ['--import', FAULT_ON_SIGNAL] });
  runs.push(windock);
  return { run: windock, disk, dir };
}

it.each([
  ['an uncaught exception', 'SIGUSR2', 'injected fault: an uncaught exception'],
  ['an unhandled rejection', 'SIGWINCH', 'injected fault: an unhandled rejection'],
] as const)('%s presses the power button, the guest shuts down cleanly, exit 1', async (_kind, signal, message) => {
  const { run: windock, disk } = await bootGuest({ BOOT_MODE: 'legacy' });
  await windock.waitForLine(serialLine('windock-guest: acpid ready'), 120_000);
  windock.kill(signal);
  const exit = await windock.exited;
  const seen = `stderr:\n${windock.stderr()}\nlog:\n${tail(windock.lines)}`;
  expect(exit.code, seen).toBe(1);
  // Logged with its stack, on stderr and in the log.
  expect(windock.stderr(), seen).toContain(message);
  const logged = windock.lines.find((l) => l.msg === 'internal failure: stopping the VM');
  expect(JSON.stringify(logged?.err), seen).toContain(message);
  expect(JSON.stringify(logged?.err), seen).toContain('fault-on-signal.mjs');
  // The normal ladder: the power button, and the guest counted a clean shutdown.
  expect(windock.lines.some((l) => l.step === 'powerdown'), seen).toBe(true);
  expect(windock.lines.some(serialLine('windock-guest: power button pressed')), seen).toBe(true);
  expect(windock.lines.some((l) => l.step === 'quit' || l.step === 'term' || l.step === 'kill'), seen).toBe(false);
  expect(await readShutdownMarker(disk)).toEqual({ count: 1 });
});

it('a dead swtpm stops the VM through the failure path; a docker stop after it still gets the full power-button wait', async () => {
  // Secure boot with an unsigned test guest: the firmware refuses it and sits there, which is all
  // this needs (a guest that does not answer the power button, with a TPM attached).
  const shutdownSeconds = 12;
  const { run: windock } = await bootGuest({ BOOT_MODE: 'secure', SHUTDOWN_TIMEOUT: String(shutdownSeconds) });
  await windock.waitForLine((l) => l.msg === 'the VM is running', 120_000);
  const swtpm = windock.lines.find((l) => l.msg === 'swtpm started');
  const pid = swtpm?.pid as number | undefined;
  expect(pid, tail(windock.lines)).toBeGreaterThan(0);
  process.kill(pid!, 'SIGKILL');
  await windock.waitForLine((l) => l.msg === 'a helper process died; stopping the VM', 10_000);
  await windock.waitForLine((l) => l.step === 'powerdown', 10_000);
  // The user's first stop request, during the failure's ladder: not a second request.
  windock.kill('SIGTERM');
  const exit = await windock.exited;
  const seen = tail(windock.lines, 40);
  expect(exit.code, seen).toBe(1);
  expect(windock.lines.some((l) => l.msg === 'second stop request: forcing the stop'), seen).toBe(false);
  const giveUp = windock.lines.find((l) => l.msg === 'the guest did not power off in time');
  expect(giveUp, seen).toBeDefined();
  expect(Number(giveUp?.waitedMs), seen).toBeGreaterThanOrEqual(shutdownSeconds * 1000);
});
