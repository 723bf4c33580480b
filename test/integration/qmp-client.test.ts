/**
 * The QMP client against a real QEMU: greeting, capabilities, commands with ids, typed errors,
 * events, and every pending call rejected when QEMU goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpCommandError, QmpDisconnectedError, QmpTimeoutError } from '../../src/qmp/errors.js';
import type { QmpEvent } from '../../src/qmp/framing.js';
import { tempDir } from '../fixtures/windock.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function startQemu(): Promise<{ qemu: ChildProcess; socket: string }> {
  const dir = await tempDir('qmp');
  const socket = join(dir, 'qmp.sock');
  // -S: the guest never runs, so the test is about the monitor only.
  const qemu = spawn('qemu-system-x86_64', ['-nodefaults', '-machine', 'q35', '-accel', 'tcg', '-display', 'none', '-m', '64M', '-S', '-chardev', `socket,id=qmp,path=${socket},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control'], { stdio: 'ignore' });
  cleanups.push(async () => {
    qemu.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  return { qemu, socket };
}

it('connects (retrying until the socket exists), negotiates and runs commands', async () => {
  const { socket } = await startQemu();
  const client = await QmpClient.connect(socket, { timeoutMs: 20_000 });
  cleanups.unshift(async () => client.close());
  expect(client.greeting.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
  expect(await client.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
  // Answers are matched to calls by id, in whatever order they are issued.
  const [a, b] = await Promise.all([client.execute<{ name?: string }>('query-name'), client.execute<unknown[]>('query-cpus-fast')]);
  expect(a).toEqual({});
  expect(Array.isArray(b)).toBe(true);
});

it('turns a QMP error into a typed error naming the command', async () => {
  const { socket } = await startQemu();
  const client = await QmpClient.connect(socket, { timeoutMs: 20_000 });
  cleanups.unshift(async () => client.close());
  const error = await client.execute('no-such-command').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(QmpCommandError);
  expect((error as QmpCommandError).errorClass).toBe('CommandNotFound');
  expect((error as Error).message).toMatch(/^QMP no-such-command failed: CommandNotFound/);
});

it('delivers events', async () => {
  const { socket } = await startQemu();
  const client = await QmpClient.connect(socket, { timeoutMs: 20_000 });
  cleanups.unshift(async () => client.close());
  const events: QmpEvent[] = [];
  client.on('event', (e) => events.push(e));
  await client.execute('cont');
  await client.execute('stop');
  await new Promise((r) => setTimeout(r, 200));
  expect(events.map((e) => e.event)).toEqual(['RESUME', 'STOP']);
});

it('rejects every pending call when QEMU goes away, and later calls at once', async () => {
  const { qemu, socket } = await startQemu();
  const client = await QmpClient.connect(socket, { timeoutMs: 20_000 });
  qemu.kill('SIGSTOP'); // answers nothing from here on
  const pending = [client.execute('query-status'), client.execute('query-name')];
  const closed = new Promise((resolve) => client.once('close', () => resolve(true)));
  qemu.kill('SIGKILL');
  for (const call of pending) await expect(call).rejects.toBeInstanceOf(QmpDisconnectedError);
  expect(await closed).toBe(true);
  await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpDisconnectedError);
});

it('times out a call QEMU does not answer, and a socket that never appears', async () => {
  const { qemu, socket } = await startQemu();
  const client = await QmpClient.connect(socket, { timeoutMs: 20_000 });
  cleanups.unshift(async () => client.close());
  qemu.kill('SIGSTOP');
  await expect(client.execute('query-status', undefined, { timeoutMs: 200 })).rejects.toBeInstanceOf(QmpTimeoutError);
  qemu.kill('SIGCONT');
  await expect(QmpClient.connect(join(socket, '..', 'missing.sock'), { timeoutMs: 300 })).rejects.toBeInstanceOf(QmpTimeoutError);
});
