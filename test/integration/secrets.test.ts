/**
 * Secrets stay with windock: the real binary runs the test guest with PASSWORD, KEY and WEB_TOKEN
 * set; none of their values reaches the environment of a child (QEMU, swtpm), the log, or
 * `windock config`.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { copyGuestDisk, ensureTestGuest } from '../fixtures/guest.js';
import { CLI, freePort, killRuns, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

const runs: WindockRun[] = [];
const dirs: string[] = [];
const SECRETS = { PASSWORD: 'pw-9f3c1d77e2', KEY: 'K3Y42-SECRE-TPROD-UCTKE-Y9999', WEB_TOKEN: 'tok_8d1e0b5a9c7f4e2d' };

beforeAll(async () => {
  await ensureTestGuest();
}, 1_200_000);
afterEach(async () => {
  await killRuns(runs, dirs);
});

it('no child process inherits PASSWORD, KEY or WEB_TOKEN, and no log line shows them', async () => {
  const dir = await tempDir('secrets');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  await copyGuestDisk(storage);
  const windock = startWindock({ env: vmEnv(storage, join(dir, 'run'), await freePort(), { ...SECRETS, BOOT_MODE: 'secure', WEB_AUTH: 'Y' }) });
  runs.push(windock);
  const qemu = await windock.waitForLine((l) => l.msg === 'QEMU started', 120_000);
  const swtpm = windock.lines.find((l) => l.msg === 'swtpm started');
  const children = [qemu.pid as number, swtpm?.pid as number];
  expect(children.every((pid) => pid > 0), tail(windock.lines)).toBe(true);
  for (const pid of children) {
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    const leaked = environ.filter((entry) => Object.entries(SECRETS).some(([name, value]) => entry.startsWith(`${name}=`) || entry.includes(value)));
    expect(leaked, `pid ${pid} environment: ${environ.join(' ')}`).toEqual([]);
  }
  // The windock process itself still has the settings (it read them at start); its log does not.
  await windock.waitForLine((l) => l.msg === 'the VM is running', 60_000);
  windock.kill('SIGKILL');
  await windock.exited;
  const logText = windock.lines.map((l) => JSON.stringify(l)).join('\n') + windock.stderr();
  for (const value of Object.values(SECRETS)) expect(logText.includes(value), `${value} found in the log`).toBe(false);
});

it('windock config redacts them', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'config'], { env: { PATH: process.env.PATH, ...SECRETS } });
  for (const value of Object.values(SECRETS)) expect(stdout.includes(value), stdout).toBe(false);
  expect(JSON.parse(stdout)).toMatchObject({ password: '[redacted]', webToken: '[redacted]' });
});
