/**
 * The composition root: builds the real adapters and runs one container's life in order —
 * STORAGE check, web server, preflight, viewer token, storage, TPM, network, QEMU — then takes
 * everything down in reverse. Every stage gets the same RunContext; a stop request at any point ends the run
 * cleanly (exit 0 when no VM ran yet).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config/options.js';
import type { Resource, RunContext } from './core/context.js';
import { AppError, EXIT_CODES, errorMessage, exitCodeOf } from './core/errors.js';
import { preflight } from './host/preflight.js';
import { startNetwork, type NetworkSession } from './network/network.js';
import { probeTcp } from './network/reachability.js';
import { startTpm } from './tpm/swtpm.js';
import { resolveWebToken } from './http/auth.js';
import type { Metrics } from './http/metrics.js';
import { startWebServer, type WebServer } from './http/server.js';
import type { Logger } from './core/log.js';
import { buildQemuArgs } from './qemu/args.js';
import { launchQemu } from './qemu/process.js';
import type { VmSpec } from './qemu/vm-spec.js';
import { QmpClient } from './qmp/client.js';
import { defaultStorageDeps, prepareStorage, type PreparedStorage } from './storage/prepare.js';
import { QemuImg } from './storage/qemu-img.js';
import { StateFile } from './storage/state-file.js';
import { ensureStorageDir } from './storage/storage-dir.js';
import { DEFAULT_LADDER, stopWorstCaseMs } from './supervisor/shutdown-ladder.js';
import { StatusStore } from './supervisor/status.js';
import { StopRequestedError, type StopRequests } from './supervisor/stop-requests.js';
import { runVm } from './supervisor/vm-runner.js';

export interface AppOptions {
  config: Config;
  log: Logger;
  stop: StopRequests;
  qemuBinary?: string;
}

/** Seconds between two readiness probes of the guest's READY_PORT. */
const READY_PROBE_INTERVAL_MS = 2_000;

export async function runApp(options: AppOptions): Promise<number> {
  const { log, stop } = options;
  const status = new StatusStore();
  const state = new StateFile(options.config.storage, {
    onRecovered: (r) =>
      log.warn(
        { component: 'storage', file: r.file, kept: r.kept, reason: r.reason, recovered: r.recovered, dropped: r.dropped },
        'windock.json was damaged: the readable facts are kept, the damaged file is kept beside it',
      ),
  });
  const ctx: RunContext = { config: options.config, log, status, state, signal: stop.graceful };
  const resources: Resource[] = [];
  status.subscribe((s, previous) => {
    if (s.phase !== previous.phase) log.info({ phase: s.phase, from: previous.phase }, 'phase');
  });
  stop.failureBudgetMs = stopWorstCaseMs(options.config.shutdownTimeout * 1000);
  stop.graceful.addEventListener('abort', () => {
    if (stop.failure) log.error({ err: stop.failure }, 'internal failure: stopping the VM');
  }, { once: true });

  try {
    // First of all: a read-only or unwritable STORAGE is one clear exit 2 before anything is touched.
    await ensureStorageDir(options.config.storage);
    await prepareRunDir(options.config.runDir);
    const web = await startWebServer({ port: options.config.webPort, status, log: log.child({ component: 'http' }) });
    resources.push({ name: 'web server', close: () => web.close() });

    const host = await preflight(ctx);
    const token = await resolveWebToken(ctx);
    const vncSocket = join(options.config.runDir, 'vnc.sock');
    // The viewer (ws, noVNC, prom-client) is loaded off the critical path: as soon as a download
    // leaves time for it, else right after QEMU starts. /health never depends on it.
    const viewer = lazyViewer(ctx, web, { vncSocket, token }, resources);
    status.subscribe((s) => {
      if (s.phase === 'downloading') void viewer.load();
    });

    // Windows (VERSION is a catalog key and no BOOT): firmware and devices follow the version.
    const windows = options.config.boot ? undefined : await import('./windows/app-stage.js');
    const profile = windows ? await windows.loadWindowsProfile(options.config) : undefined;
    if (profile) log.info({ version: profile.entry.key, bootMode: profile.bootMode, disk: profile.disk, nic: profile.nic }, profile.devicesReason);
    const config = effectiveConfig(options.config, profile, (await ctx.state.read()).diskBus);
    const stageCtx: RunContext = { ...ctx, config };

    const storage = await prepareStorage(
      stageCtx,
      host,
      windows ? defaultStorageDeps({ resolveVersionMedia: windows.versionMedia(log) }) : defaultStorageDeps(),
    );
    const install = windows ? await windows.prepareInstall(stageCtx, storage, new QemuImg()) : undefined;
    const tpm = storage.firmware.mode === 'secure' ? await startTpm(stageCtx) : undefined;
    if (tpm) resources.push(tpm);
    const network = await startNetwork(stageCtx, host);
    resources.push(network);
    status.update({ guestAddress: network.guestAddress });
    ctx.signal.throwIfAborted();

    const keys = install?.keys(log, ctx.signal);
    const nic = windows && profile ? await windows.recordedNic(ctx.state, profile, log) : undefined;
    const spec: VmSpec = {
      name: 'windock',
      accel: config.kvm ? 'kvm' : 'tcg',
      ramBytes: config.ramSize,
      cpuCores: config.cpuCores,
      firmware: storage.firmware,
      drives: install?.drives ?? storage.drives,
      network: nic && network.spec.mode !== 'none' ? { ...network.spec, model: nic } : network.spec,
      qmpSocket: join(config.runDir, 'qmp.sock'),
      vncSocket,
      tpmSocket: tpm?.socket,
      guest: profile ? { ...profile.guest, amdHost: host.cpuVirtualization === 'svm' } : undefined,
      extraArgs: [...(install?.extraArgs ?? []), ...config.arguments],
    };
    const args = buildQemuArgs(spec);
    log.debug({ argv: args }, 'QEMU command line');
    // A dying helper stops the VM through the failure path, not as a user's request: a
    // `docker stop` that follows still gets the full power-button wait.
    void firstDeath([network.died, tpm?.died]).then((error) => {
      if (stop.requested) return;
      log.error({ err: error.message }, 'a helper process died; stopping the VM');
      status.update({ error: { code: 'internal', message: error.message } });
      stop.fail(error);
    });

    const serial = consoleLoggers(log);
    const outcome = await runVm({
      log,
      status,
      stop,
      launch: async () => {
        const qemu = await launchQemu(args, {
          binary: options.qemuBinary ?? 'qemu-system-x86_64',
          log: log.child({ component: 'qemu' }),
          onStderrLine: serial.onStderrLine,
          onSerialLine: (line) => {
            serial.onSerialLine(line);
            keys?.onSerialLine(line);
          },
        });
        void viewer.load();
        return qemu;
      },
      connectQmp: (signal) => QmpClient.connect(spec.qmpSocket, { timeoutMs: 30_000, signal }),
      ladder: { ...DEFAULT_LADDER, guestMs: config.shutdownTimeout * 1000 },
      onRunning: async (qmp, signal) => {
        keys?.attach((command, args, s) => qmp.execute(command, args, { signal: s }));
        await network.afterQemuStart?.();
        void watchReadiness(network, storage, status, log, signal);
      },
      onStopped: (seconds, endedBy) => {
        void viewer.metrics().then((m) => m?.observeShutdown(seconds, endedBy === 'guest' ? 'powered-off' : 'forced'));
      },
    });
    // A VM stopped because a helper died or windock itself failed did not end well, however
    // cleanly it stopped.
    const exitCode = stop.failure ? EXIT_CODES.internal : outcome.exitCode;
    log.info({ exitCode, reason: stop.failure ? `internal failure: ${stop.failure.message}` : outcome.reason }, 'windock is done');
    return exitCode;
  } catch (error) {
    return failed(error, ctx, stop);
  } finally {
    await closeAll(resources, log);
    await rm(join(options.config.runDir, 'qmp.sock'), { force: true }).catch(() => undefined);
  }
}

/**
 * Settings a Windows version decides when the user left them unset. The disk bus only for a new
 * disk: an existing one keeps the bus recorded when it was made (storage-plan.ts).
 */
function effectiveConfig(config: Config, profile: { bootMode: Config['bootMode']; disk: Config['diskType'] } | undefined, recordedBus: Config['diskType']): Config {
  if (!profile) return config;
  return { ...config, bootMode: config.bootMode ?? profile.bootMode, diskType: config.diskType ?? (recordedBus ? undefined : profile.disk) };
}

interface LazyViewer {
  /** Loads and installs the viewer once; later calls return the same promise. */
  load(): Promise<void>;
  metrics(): Promise<Metrics | undefined>;
}

function lazyViewer(ctx: RunContext, web: WebServer, options: { vncSocket: string; token: string | undefined }, resources: Resource[]): LazyViewer {
  let loading: Promise<Metrics | undefined> | undefined;
  const load = (): Promise<Metrics | undefined> =>
    (loading ??= (async () => {
      const [{ createViewer }, { createMetrics }] = await Promise.all([import('./http/viewer.js'), import('./http/metrics.js')]);
      const metrics = createMetrics(ctx.status);
      const viewer = createViewer({ vncSocket: options.vncSocket, status: ctx.status, log: ctx.log, auth: { token: options.token }, viewOnly: ctx.config.viewOnly, metrics });
      web.setDelegate(viewer);
      resources.push({ name: 'viewer', close: () => viewer.close() });
      return metrics;
    })().catch((error: Error) => {
      ctx.log.error({ err: error.message }, 'the viewer could not be loaded');
      return undefined;
    }));
  return { load: async () => void (await load()), metrics: () => loading ?? Promise.resolve(undefined) };
}

function failed(error: unknown, ctx: RunContext, stop: StopRequests): number {
  const { log, status } = ctx;
  if (stop.requested && isStopError(error)) {
    // A stop during preparation (a download, say) is a clean end: nothing ran yet — unless
    // what stopped it was a failure inside windock.
    if (status.snapshot.phase !== 'stopped') status.update({ phase: 'stopped' });
    log.info('stopped before the VM started');
    return stop.failure ? EXIT_CODES.internal : EXIT_CODES.ok;
  }
  const code = exitCodeOf(error);
  if (error instanceof AppError) {
    log.error({ code: error.code, hint: error.hint, details: error.details, exitCode: code }, error.message);
  } else {
    log.error({ err: error, exitCode: code }, `internal error: ${errorMessage(error)}`);
  }
  const phase = status.snapshot.phase;
  if (phase !== 'failed' && phase !== 'stopped') {
    status.update({ phase: 'failed', error: { code: error instanceof AppError ? error.code : 'internal', message: errorMessage(error) } });
  }
  return code;
}

/** Whether an error is (or was caused by) the stop request: walks the `cause` chain. */
function isStopError(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof StopRequestedError || e.name === 'AbortError') return true;
  }
  return false;
}

/** RUN_DIR is private: sockets of QEMU's monitor and screen live there (0700, root only). */
async function prepareRunDir(runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  // Sockets left by a crashed run would make a new QEMU fail to bind (house rule 9).
  await Promise.all(['qmp.sock', 'vnc.sock'].map((name) => rm(join(runDir, name), { force: true })));
}

function consoleLoggers(log: Logger): { onSerialLine: (line: string) => void; onStderrLine: (line: string) => void } {
  const serial = log.child({ component: 'serial' });
  const qemu = log.child({ component: 'qemu' });
  return {
    onSerialLine: (line) => serial.debug(line),
    onStderrLine: (line) => qemu.warn(line),
  };
}

/**
 * Polls the guest's READY_PORT while the VM runs: /health/ready follows it, and the first answer
 * records in windock.json that the guest has run from its disk.
 */
async function watchReadiness(
  network: NetworkSession,
  storage: PreparedStorage,
  status: StatusStore,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const target = network.readiness;
  if (!target) return;
  while (!signal.aborted) {
    const reachable = await probeTcp(target.host, target.port, 1_500, signal, { expectReply: target.expectReply }).catch(() => false);
    if (signal.aborted) return;
    if (reachable !== status.snapshot.guestReachable) {
      status.update({ guestReachable: reachable });
      log.info({ address: target.host, port: target.port, reachable }, reachable ? 'the guest answers' : 'the guest stopped answering');
      if (reachable) await storage.markBootedFromDisk().catch((error: Error) => log.warn({ err: error.message }, 'could not record the install state'));
    }
    await new Promise((resolve) => setTimeout(resolve, READY_PROBE_INTERVAL_MS).unref());
  }
}

/** The first helper death; never settles when no helper can die. */
function firstDeath(deaths: (Promise<Error> | undefined)[]): Promise<Error> {
  return Promise.race(deaths.filter((d): d is Promise<Error> => d !== undefined));
}

async function closeAll(resources: Resource[], log: Logger): Promise<void> {
  for (const resource of resources.reverse()) {
    try {
      await resource.close();
    } catch (error) {
      log.warn({ resource: resource.name, err: errorMessage(error) }, 'cleanup step failed');
    }
  }
}

