/**
 * The run's stage order, teardown and exit codes, with every stage a fake passed through
 * runApp's adapters (the real stages have their own tests; test/integration/supervisor.test.ts
 * runs the whole with real QEMU). Each fake records what it built and what it closed.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runApp, type AppAdapters, type ViewerModules } from '../../src/app.js';
import type { Config } from '../../src/config/options.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { AppError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import { plainProfile } from '../../src/guest/profile.js';
import type { Metrics } from '../../src/http/metrics.js';
import type { Lab } from '../../src/lab/lab-stage.js';
import type { ViewerWithBridge } from '../../src/http/viewer.js';
import type { NetworkSession } from '../../src/network/network.js';
import type { QemuExit, QemuProcess } from '../../src/qemu/process.js';
import type { QmpClient } from '../../src/qmp/client.js';
import type { QmpEvent } from '../../src/qmp/framing.js';
import type { RunContext } from '../../src/supervisor/context.js';
import type { Phase } from '../../src/supervisor/status.js';
import { IGNORED_BUTTON_GUEST_MS } from '../../src/supervisor/shutdown-ladder.js';
import { StopRequests } from '../../src/supervisor/stop-requests.js';
import type { TpmSession } from '../../src/tpm/swtpm.js';
import { HOST } from './storage/context.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-app-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves once `check` holds, polling the event loop; fails with what was seen after 5 s. */
async function until(check: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting: ${what()}`);
}

/** Rejects when the run's stop signal aborts, as a real stage waiting on I/O does. */
const untilStopped = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

type Guest = 'powers-off' | 'ignores';

/** A run with fake stages; `overrides` replace single stages. */
function harness(overrides: Partial<AppAdapters> = {}, guest: Guest = 'powers-off', env: Record<string, string> = {}) {
  const events: string[] = [];
  const phases: Phase[] = [];
  const lines: string[] = [];
  const stop = new StopRequests();
  const viewerLoads: number[] = [];
  let died!: (error: Error) => void;
  const helperDeath = new Promise<Error>((resolve) => (died = resolve));
  let endQemu!: (exit: QemuExit) => void;
  const exited = new Promise<QemuExit>((resolve) => (endQemu = resolve));
  const qemu: QemuProcess = { pid: 4242, exited, kill: (signal) => (events.push(`kill ${signal ?? 'SIGTERM'}`), endQemu({ code: undefined, signal: 'SIGKILL', stderrTail: [] })) };
  const qmp = Object.assign(new EventEmitter(), {
    closed: false,
    close() {
      this.closed = true;
    },
    execute: async (command: string) => {
      events.push(`qmp ${command}`);
      if (command === 'query-status') return { status: 'running' };
      if (command === 'system_powerdown' && guest === 'powers-off') powerOff();
      if (command === 'quit') endQemu({ code: 0, signal: undefined, stderrTail: [] });
      return {};
    },
  });
  const powerOff = () => {
    qmp.emit('event', { event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, timestamp: { seconds: 0, microseconds: 0 } } satisfies QmpEvent);
    endQemu({ code: 0, signal: undefined, stderrTail: [] });
  };
  const resource = (name: string) => ({ name, close: async () => void events.push(`close ${name}`) });
  const built = (name: string): void => void events.push(`build ${name}`);
  const viewer: ViewerModules = {
    createViewer: () => ({ ...resource('viewer') }) as unknown as ViewerWithBridge,
    createMetrics: () => ({ observeShutdown: (s: number, outcome: string) => events.push(`metrics ${outcome}`) }) as unknown as Metrics,
    withSnapshotApi: (handler) => handler,
  };
  const adapters: Partial<AppAdapters> = {
    ensureStorageDir: async () => built('storage dir'),
    prepareRunDir: async () => built('run dir'),
    startLab: async () => {
      built('lab');
      return { server: { ...resource('lab'), path: join(dir, 'control.sock') }, handle: async () => ({}), qemuArgs: [], prepare: async (storage) => storage, attach: async () => void events.push('lab attached') } satisfies Lab;
    },
    startWebServer: async (options) => {
      built('web server');
      options.status.subscribe((s, previous) => s.phase !== previous.phase && phases.push(s.phase));
      return { port: 0, setDelegate: () => events.push('viewer installed'), ...resource('web server') };
    },
    preflight: async () => (built('preflight'), HOST),
    resolveWebToken: async () => (built('token'), 'a-token-of-twenty-chars'),
    loadGuest: async () => (built('guest'), plainProfile),
    prepareStorage: async () => {
      built('storage');
      return {
        drives: [{ id: 'system', path: join(dir, 'data.qcow2'), format: 'qcow2', media: 'disk', bus: 'scsi', readOnly: false, bootIndex: 1 }],
        firmware: { mode: 'secure', code: '/fw/code.fd', vars: join(dir, 'vars.fd') },
        systemDisk: join(dir, 'data.qcow2'),
        markBootedFromDisk: async () => void events.push('booted from disk'),
        recordDiskClosed: async () => void events.push('disk closed'),
      };
    },
    startTpm: async () => (built('tpm'), { ...resource('tpm'), socket: join(dir, 'tpm.sock'), stateDir: dir, pid: 1, died: new Promise<Error>(() => {}) } satisfies TpmSession),
    startNetwork: async (_ctx, _host, nic) =>
      (built(`network nic=${nic ?? 'default'}`), { ...resource('network'), spec: { mode: 'none' }, guestAddress: '10.0.0.2', readiness: undefined, died: helperDeath } satisfies NetworkSession),
    launchQemu: async () => (built('qemu'), qemu),
    connectQmp: async () => qmp as unknown as QmpClient,
    loadViewer: async () => (viewerLoads.push(1), viewer),
    probeReadiness: async () => false,
    ...overrides,
  };
  const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }) });
  const config = resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), BOOT: join(dir, 'boot.qcow2'), SHUTDOWN_TIMEOUT: '30', ...env });
  const start = () => runApp({ config, log, stop, adapters });
  const seen = () => `events ${JSON.stringify(events)}, phases ${JSON.stringify(phases)}, log tail ${lines.slice(-3).join('')}`;
  return { start, stop, events, phases, lines, viewerLoads, died, powerOff, seen, qmp: qmp as unknown as QmpClient, closed: () => events.filter((e) => e.startsWith('close ')) };
}

const fail = (error: Error) => async (): Promise<never> => {
  throw error;
};

describe('runApp stage order and teardown', () => {
  it('runs the stages in order and takes them down in reverse after the guest powers off', async () => {
    const h = harness();
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.events.filter((e) => e.startsWith('build ')), h.seen()).toEqual([
      // preflight's checks run while the control socket and the web server open
      'build guest', 'build storage dir', 'build run dir', 'build preflight', 'build lab', 'build web server', 'build token', 'build storage', 'build tpm', 'build network nic=default', 'build qemu',
    ]);
    expect(h.closed(), h.seen()).toEqual(['close viewer', 'close network', 'close tpm', 'close web server', 'close lab']);
    expect(h.phases, h.seen()).toEqual(['starting', 'running', 'stopping', 'stopped']);
    expect(h.events, h.seen()).toContain('disk closed');
  });

  it.each([
    ['STORAGE check', 'ensureStorageDir', new AppError('config', 'STORAGE is read-only'), 2, []],
    ['control socket', 'startLab', new AppError('host', 'RUN_DIR/control.sock is taken'), 3, []],
    ['web server', 'startWebServer', new AppError('host', 'port 8006 is taken'), 3, ['close lab']],
    ['preflight', 'preflight', new AppError('host', 'no /dev/net/tun'), 3, ['close web server', 'close lab']],
    ['viewer token', 'resolveWebToken', new AppError('internal', 'windock.json cannot be written'), 1, ['close web server', 'close lab']],
    ['storage', 'prepareStorage', new AppError('media', 'the ISO download failed'), 4, ['close web server', 'close lab']],
    ['TPM', 'startTpm', new AppError('host', 'swtpm did not start'), 3, ['close web server', 'close lab']],
    ['network', 'startNetwork', new AppError('host', 'dnsmasq did not start'), 3, ['close tpm', 'close web server', 'close lab']],
    ['QEMU launch', 'launchQemu', new AppError('qemu', 'QEMU could not be started'), 5, ['close network', 'close tpm', 'close web server', 'close lab']],
    ['an unexpected throw', 'preflight', new TypeError('x is undefined'), 1, ['close web server', 'close lab']],
  ] as const)('a failing %s exits with its code and closes what was built, in reverse', async (_name, stage, error, code, closed) => {
    const h = harness({ [stage]: fail(error) });
    expect(await h.start(), h.seen()).toBe(code);
    expect(h.closed(), h.seen()).toEqual(closed);
    if (stage !== 'ensureStorageDir' && stage !== 'startLab' && stage !== 'startWebServer') expect(h.phases.at(-1), h.seen()).toBe('failed');
  });

  it('a QMP that never answers is exit 5, and QEMU is killed', async () => {
    const h = harness({ connectQmp: fail(new Error('connection refused')) });
    expect(await h.start(), h.seen()).toBe(5);
    expect(h.events, h.seen()).toContain('kill SIGKILL');
    expect(h.closed(), h.seen()).toEqual(['close viewer', 'close network', 'close tpm', 'close web server', 'close lab']);
  });

  it('passes ADAPTER to the network stage over the guest profile\'s NIC model', async () => {
    const guestNic = { loadGuest: async () => ({ ...plainProfile, prepare: async (ctx: RunContext, storage: Parameters<typeof plainProfile.prepare>[1]) => ({ ...(await plainProfile.prepare(ctx, storage)), nic: 'e1000e' }) }) };
    const h = harness(guestNic, 'powers-off', { ADAPTER: 'rtl8139' });
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.events, h.seen()).toContain('build network nic=rtl8139');
  });

  it('starts the TPM before storage when the firmware will be secure; a failed one hands storage BOOT_MODE=uefi', async () => {
    const seenModes: (string | undefined)[] = [];
    const secureGuest = { ...plainProfile, installsWithoutTpm: true, settle: (c: Config) => ({ ...c, bootMode: 'secure' as const }) };
    const h = harness({
      loadGuest: async () => secureGuest,
      startTpm: fail(new AppError('host', 'swtpm exited unexpectedly (exit code 1): Could not open UnixIO socket')),
      prepareStorage: async (ctx) => {
        seenModes.push(ctx.config.bootMode);
        return { drives: [], firmware: { mode: 'uefi', code: '/fw/code.fd', vars: join(dir, 'vars.fd') }, systemDisk: join(dir, 'data.qcow2'), markBootedFromDisk: async () => {}, recordDiskClosed: async () => {} };
      },
    });
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(seenModes, h.seen()).toEqual(['uefi']);
    expect(h.lines.filter((l) => l.includes('swtpm cannot start')), h.seen()).toHaveLength(1);
    expect(h.closed(), h.seen()).toEqual(['close viewer', 'close network', 'close web server', 'close lab']);
  });

  it('a viewer token that fails while swtpm started (they run side by side) takes the TPM down too', async () => {
    const secureGuest = { ...plainProfile, settle: (c: Config) => ({ ...c, bootMode: 'secure' as const }) };
    const h = harness({ loadGuest: async () => secureGuest, resolveWebToken: fail(new AppError('internal', 'windock.json cannot be written')) });
    expect(await h.start(), h.seen()).toBe(1);
    expect(h.events.filter((e) => e.startsWith('build ')), h.seen()).toContain('build tpm');
    expect(h.closed(), h.seen()).toEqual(['close tpm', 'close web server', 'close lab']);
  });

  it('passes the guest profile\'s NIC model to the network stage', async () => {
    const h = harness({ loadGuest: async () => ({ ...plainProfile, prepare: async (ctx, storage) => ({ ...(await plainProfile.prepare(ctx, storage)), nic: 'e1000e' }) }) });
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.events, h.seen()).toContain('build network nic=e1000e');
  });
});

describe('runApp and the guest profile\'s install record and stop ladder', () => {
  const answering = (recordsInstall: boolean | undefined, ignoresPowerButton = false): Partial<AppAdapters> => ({
    startNetwork: async () => ({ name: 'network', close: async () => undefined, spec: { mode: 'none' }, guestAddress: '10.0.0.2', readiness: { host: '10.0.0.2', port: 3389 }, died: new Promise<Error>(() => {}) }) satisfies NetworkSession,
    probeReadiness: async () => true,
    loadGuest: async () => ({
      ...plainProfile,
      prepare: async (ctx, storage) => {
        const setup = await plainProfile.prepare(ctx, storage);
        return { ...setup, hooks: { ignoresPowerButton: () => ignoresPowerButton }, ...(recordsInstall === undefined ? {} : { recordsInstall }) };
      },
    }),
  });
  const answered = (h: ReturnType<typeof harness>) => until(() => h.lines.some((l) => l.includes('"the guest answers"')), h.seen);

  it('a BOOT image: the first READY_PORT answer records the boot from disk', async () => {
    const h = harness(answering(undefined));
    const run = h.start();
    await answered(h);
    await until(() => h.events.includes('booted from disk'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
  });

  it('a profile that records the install itself (Windows): READY_PORT answering records nothing', async () => {
    const h = harness(answering(true));
    const run = h.start();
    await answered(h);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.events, h.seen()).not.toContain('booted from disk');
  });

  it.each([
    ['ignores the power button: the short ladder', true, { ladder: 'short', guestMs: IGNORED_BUTTON_GUEST_MS }],
    ['acts on it: the full ladder with SHUTDOWN_TIMEOUT', false, { ladder: 'full', guestMs: 30_000 }],
  ] as const)('the profile says the guest %s, named in the log', async (_name, ignores, expected) => {
    const h = harness(answering(true, ignores));
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    const chosen = h.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'stop ladder chosen');
    expect(chosen, h.seen()).toMatchObject(expected);
  });
});

describe('runApp stop requests', () => {
  it('a stop while preparing ends with exit 0, before any VM', async () => {
    const h = harness({ preflight: (ctx: RunContext) => untilStopped(ctx.signal) });
    const run = h.start();
    await until(() => h.events.includes('build web server'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.phases, h.seen()).toEqual(['stopped']);
    expect(h.closed(), h.seen()).toEqual(['close web server', 'close lab']);
  });

  it('a stop while downloading ends with exit 0; the viewer was loaded once, at the download', async () => {
    const h = harness({
      prepareStorage: async (ctx) => {
        ctx.onDownloadProgress?.({ file: 'win.iso', bytesDone: 1, bytesTotal: 10, bytesPerSecond: 1, etaSeconds: 9 });
        ctx.onDownloadProgress?.({ file: 'win.iso', bytesDone: 2, bytesTotal: 10, bytesPerSecond: 1, etaSeconds: 8 });
        return untilStopped(ctx.signal);
      },
    });
    const run = h.start();
    await until(() => h.events.includes('viewer installed'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.phases, h.seen()).toEqual(['downloading', 'stopped']);
    expect(h.viewerLoads, h.seen()).toHaveLength(1);
    expect(h.closed(), h.seen()).toEqual(['close viewer', 'close web server', 'close lab']);
  });

  it('a stop while QEMU starts presses the power button once QMP answers: exit 0', async () => {
    let connected!: () => void;
    const h = harness({ connectQmp: async () => (await new Promise<void>((r) => (connected = r)), h.qmp) });
    const run = h.start();
    await until(() => h.events.includes('build qemu'), h.seen);
    h.stop.request('SIGTERM');
    expect(h.phases.at(-1), h.seen()).toBe('starting');
    connected();
    expect(await run, h.seen()).toBe(0);
    expect(h.events, h.seen()).toContain('qmp system_powerdown');
  });

  it('a stop while running is the power button: exit 0, the viewer loaded once, the stop measured', async () => {
    const h = harness();
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    expect(await run, h.seen()).toBe(0);
    expect(h.viewerLoads, h.seen()).toHaveLength(1);
    expect(h.events, h.seen()).toContain('metrics powered-off');
  });

  it('a second stop while stopping skips to quit: exit 6', async () => {
    const h = harness({}, 'ignores');
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.stop.request('SIGTERM');
    await until(() => h.phases.includes('stopping') && h.events.includes('qmp system_powerdown'), h.seen);
    h.stop.request('SIGINT');
    expect(await run, h.seen()).toBe(6);
    expect(h.events, h.seen()).toContain('qmp quit');
    expect(h.events, h.seen()).toContain('metrics forced');
  });

  it('a helper death stops the VM as a failure; a docker stop after it still gets the full power-button wait: exit 1', async () => {
    const h = harness({}, 'ignores');
    const run = h.start();
    await until(() => h.phases.includes('running'), h.seen);
    h.died(new Error('dnsmasq exited with code 2'));
    await until(() => h.events.includes('qmp system_powerdown'), h.seen);
    h.stop.request('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    expect(h.stop.hard.aborted, h.seen()).toBe(false);
    h.powerOff();
    expect(await run, h.seen()).toBe(1);
    expect(h.events, h.seen()).not.toContain('qmp quit');
    expect(h.closed(), h.seen()).toEqual(['close viewer', 'close network', 'close tpm', 'close web server', 'close lab']);
  });
});
