/**
 * startHelper against real children (test/fixtures/process/): readiness by line and by socket,
 * a start that never becomes ready, an early death, a child that ignores SIGTERM, and a flood of
 * output without a newline (memory stays bounded: the line is cut and what is dropped counted).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { startHelper, type Helper } from '../../../src/process/helper.js';
import { processAlive } from '../../fixtures/child.js';
import { capturingLogger, fixture } from './fixtures.js';

let dir: string;
const helpers: Helper[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-helper-'));
});
afterEach(async () => {
  await Promise.all(helpers.splice(0).map((h) => h.stop(500)));
  await rm(dir, { recursive: true, force: true });
});

function start(name: string, argv: string[], extra: Partial<Parameters<typeof startHelper>[0]> = {}) {
  const logger = capturingLogger();
  const helper = startHelper({ name, argv, log: logger.log, ...extra });
  helpers.push(helper);
  return { helper, logLines: logger.lines };
}

describe('startHelper readiness', () => {
  it('waits for a line, then for the socket, and stop() ends it with SIGTERM', async () => {
    const socket = join(dir, 'ready.sock');
    const { helper } = start('listener', [fixture('listen-socket.mjs'), socket, '200']);
    await helper.started;
    expect(await helper.waitForLine(/^initializing$/, { timeoutMs: 5_000 })).toBe('initializing');
    await helper.waitForPath(socket, { timeoutMs: 5_000, socket: true });
    expect(await helper.waitForLine(/^listening on /, { timeoutMs: 5_000 })).toBe(`listening on ${socket}`);
    const exit = await helper.stop();
    expect(exit, JSON.stringify(exit)).toMatchObject({ code: 0, signal: undefined });
    expect(processAlive(helper.pid)).toBe(false);
  });

  it('rejects waitForLine on its deadline, naming the helper and showing its output tail', async () => {
    const { helper } = start('slowpoke', [fixture('never-ready.sh')]);
    await helper.waitForLine(/still loading/, { timeoutMs: 5_000 });
    const error = await helper.waitForLine(/started, version/, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(String((error as Error).message)).toBe(
      'slowpoke did not report ready (started, version) within 300 ms; its last output: starting up | still loading the configuration',
    );
    expect((error as AppError).details).toMatchObject({ helper: 'slowpoke', output: ['starting up', 'still loading the configuration'] });
  });

  it('rejects waitForPath on its deadline, naming the helper, the path and the output tail', async () => {
    const { helper } = start('slowpoke', [fixture('never-ready.sh')]);
    await helper.waitForLine(/still loading/, { timeoutMs: 5_000 });
    const socket = join(dir, 'never.sock');
    const error = await helper.waitForPath(socket, { timeoutMs: 300, socket: true }).catch((e: unknown) => e);
    expect(String((error as Error).message)).toBe(
      `slowpoke did not create ${socket} within 300 ms; its last output: starting up | still loading the configuration`,
    );
  });

  it('rejects a readiness wait with the stop reason when the signal aborts', async () => {
    const { helper } = start('slowpoke', [fixture('never-ready.sh')]);
    const controller = new AbortController();
    const waiting = helper.waitForLine(/never/, { timeoutMs: 60_000, signal: controller.signal });
    const reason = new Error('stop requested');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(helper.waitForPath(join(dir, 'x'), { timeoutMs: 60_000, signal: controller.signal })).rejects.toBe(reason);
  });
});

describe('startHelper exits', () => {
  it('resolves `died` with the exit code and its last words when it exits unasked, and readiness waits fail at once', async () => {
    const { helper, logLines } = start('dnsmasq', [fixture('exit-early.sh'), '3']);
    const notReady = await helper.waitForLine(/started, version/, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(String((notReady as Error).message)).toBe(
      'dnsmasq exited before it was ready (exit code 3); its last output: dnsmasq: failed to create listening socket for port 53: Address already in use',
    );
    const died = await helper.died;
    expect(died).toBeInstanceOf(AppError);
    expect(died.message).toBe('dnsmasq exited unexpectedly (exit code 3): dnsmasq: failed to create listening socket for port 53: Address already in use');
    expect(died.details).toMatchObject({ helper: 'dnsmasq', code: 3, signal: undefined });
    expect(logLines().map((l) => l['msg'])).toContain('helper exited unexpectedly');
  });

  it('resolves `died` with the signal when something else kills it', async () => {
    const { helper } = start('victim', [fixture('never-ready.sh')]);
    // Both lines printed before the kill, so the tail the message quotes is known.
    await helper.waitForLine(/still loading the configuration/, { timeoutMs: 5_000 });
    process.kill(helper.pid, 'SIGKILL');
    const died = await helper.died;
    expect(died.message).toMatch(/^victim exited unexpectedly \(killed by SIGKILL\): starting up \| still loading the configuration$/);
  });

  it('never resolves `died` for a helper that was asked to stop', async () => {
    const { helper } = start('calm', [fixture('never-ready.sh')]);
    await helper.started;
    await helper.stop();
    await helper.exited;
    // `died` would settle within the microtasks after `exited`; setImmediate runs after them.
    const outcome = await Promise.race([helper.died.then(() => 'died'), new Promise((r) => setImmediate(() => r('still pending')))]);
    expect(outcome).toBe('still pending');
  });

  it('stop() escalates to SIGKILL after the grace when the helper ignores SIGTERM', async () => {
    const cue = join(dir, 'ignoring');
    const { helper, logLines } = start('stubborn', [fixture('ignore-term.sh'), cue]);
    await helper.waitForPath(cue, { timeoutMs: 5_000 });
    const exit = await helper.stop(300);
    expect(exit, JSON.stringify(exit)).toMatchObject({ code: undefined, signal: 'SIGKILL' });
    expect(await helper.stop(300)).toBe(exit); // idempotent
    expect(processAlive(helper.pid)).toBe(false);
    expect(logLines().map((l) => l['msg'])).toContain('helper ignored SIGTERM, killing it');
  });

  it('reports a program that setpriv cannot execute as exit code 127, program not found', async () => {
    const { helper } = start('ghost', [join(dir, 'no-such-program')]);
    const died = await helper.died;
    expect(died.message).toContain('ghost exited unexpectedly (exit code 127: the program was not found)');
    expect(died.message).toContain('no-such-program');
  });
});

describe('startHelper output bounds', () => {
  it('cuts an endless line at maxLineBytes and counts the dropped bytes: memory stays bounded', async () => {
    const { helper, logLines } = start('flood', [fixture('flood-stderr.sh')], { maxLineBytes: 1024, onLine: () => {} });
    await helper.waitForLine(/^flooding$/, { timeoutMs: 5_000 });
    // The flood has no newline at all: the only stderr line is the cut one, at the cap.
    const cut = await helper.waitForLine(/^x+$/, { timeoutMs: 5_000 });
    expect(cut.length).toBe(1024);
    // Keep reading until many times the cap has gone by, then stop.
    for (let i = 0; i < 500 && helper.droppedBytes() < 16 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 20));
    expect(helper.droppedBytes(), 'bytes dropped by the time the test gave up').toBeGreaterThanOrEqual(16 * 1024 * 1024);
    expect(helper.recentOutput()).toEqual(['flooding', 'x'.repeat(1024)]);
    const exit = await helper.stop(1_000);
    expect(exit?.droppedBytes).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    const messages = logLines().map((l) => l['msg']);
    expect(messages.filter((m) => m === 'output line too long: cut, the rest of it dropped'), JSON.stringify(messages)).toHaveLength(1);
    expect(messages).toContain('output dropped from over-long lines');
  });

  it('keeps only the last tailLines lines, from the chosen streams', async () => {
    const { helper } = start('chatty', ['sh', '-c', 'for i in 1 2 3 4 5; do echo "out $i"; echo "err $i" >&2; done'], {
      tailLines: 3,
      tailStreams: ['stderr'],
    });
    const exit = await helper.exited;
    expect(exit.tail).toEqual(['err 3', 'err 4', 'err 5']);
    expect(exit.code).toBe(0);
  });
});
