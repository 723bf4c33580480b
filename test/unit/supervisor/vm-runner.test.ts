/**
 * How runVm turns the way QEMU ended into an exit code, with a scripted QEMU and QMP (the real
 * ones are exercised in test/integration/supervisor.test.ts).
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/log.js';
import type { QmpClient } from '../../../src/qmp/client.js';
import type { QmpEvent } from '../../../src/qmp/framing.js';
import type { QemuExit, QemuProcess } from '../../../src/qemu/process.js';
import { DEFAULT_LADDER } from '../../../src/supervisor/shutdown-ladder.js';
import { StatusStore } from '../../../src/supervisor/status.js';
import { StopRequests } from '../../../src/supervisor/stop-requests.js';
import { runVm } from '../../../src/supervisor/vm-runner.js';

/** A QEMU whose end the test decides, and a QMP that answers query-status and emits events. */
function scripted() {
  let end!: (exit: QemuExit) => void;
  const exited = new Promise<QemuExit>((resolve) => (end = resolve));
  const qemu: QemuProcess = { pid: 4242, exited, kill: () => end({ code: undefined, signal: 'SIGKILL', stderrTail: [] }) };
  const qmp = Object.assign(new EventEmitter(), {
    closed: false,
    execute: async (command: string) => (command === 'query-status' ? { status: 'running' } : {}),
    close() {
      this.closed = true;
    },
  });
  const emit = (event: string, data: Record<string, unknown>): void => {
    qmp.emit('event', { event, data, timestamp: { seconds: 0, microseconds: 0 } } satisfies QmpEvent);
  };
  return { qemu, qmp: qmp as unknown as QmpClient, emit, end };
}

function deps(s: ReturnType<typeof scripted>, stop = new StopRequests()) {
  const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (_c, _e, done) => done() }) });
  const status = new StatusStore();
  return {
    status,
    run: runVm({
      log,
      status,
      stop,
      launch: async () => s.qemu,
      connectQmp: async () => s.qmp,
      ladder: { ...DEFAULT_LADDER, guestMs: 1_000, pressScheduleMs: [50] },
    }),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('runVm outcomes', () => {
  it('a guest that powers itself off ends with exit 0', async () => {
    const s = scripted();
    const { run, status } = deps(s);
    await settle();
    s.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    s.end({ code: 0, signal: undefined, stderrTail: [] });
    expect(await run).toMatchObject({ exitCode: 0 });
    expect(status.snapshot.phase).toBe('stopped');
  });

  it('a guest panic is a failure (exit 5), not a clean power-off', async () => {
    const s = scripted();
    const { run, status } = deps(s);
    await settle();
    s.emit('SHUTDOWN', { guest: true, reason: 'guest-panic' });
    s.end({ code: 0, signal: undefined, stderrTail: [] });
    expect(await run).toMatchObject({ exitCode: 5 });
    expect(status.snapshot.phase).toBe('failed');
  });

  it('a reboot does not end the run', async () => {
    const s = scripted();
    const stop = new StopRequests();
    const { run } = deps(s, stop);
    await settle();
    s.emit('RESET', { guest: true, reason: 'guest-reset' });
    await settle();
    let ended = false;
    void run.then(() => (ended = true));
    await settle();
    expect(ended).toBe(false);
    stop.request('SIGTERM');
    await settle();
    s.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    s.end({ code: 0, signal: undefined, stderrTail: [] });
    expect(await run).toMatchObject({ exitCode: 0 });
  });

  it('QEMU dying with an error is exit 5, and a missing KVM is exit 3', async () => {
    const s = scripted();
    const { run } = deps(s);
    await settle();
    s.end({ code: 1, signal: undefined, stderrTail: ['qemu-system-x86_64: something broke'] });
    expect(await run).toMatchObject({ exitCode: 5, reason: 'QEMU exited with code 1: qemu-system-x86_64: something broke' });

    const k = scripted();
    k.end({ code: 1, signal: undefined, stderrTail: ['Could not access KVM kernel module: No such file or directory', 'qemu-system-x86_64: failed to initialize kvm: No such file or directory'] });
    expect(await deps(k).run).toMatchObject({ exitCode: 3, reason: expect.stringMatching(/^QEMU could not use KVM/) });
  });
});
