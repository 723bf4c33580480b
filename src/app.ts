/**
 * The composition root: runs one container's life in order — STORAGE check, web server,
 * preflight, viewer token, guest profile, TPM, storage, network, QEMU — then takes everything
 * down in reverse. Each stage is an adapter (real ones by default, fakes in
 * test/unit/app.test.ts) from narrow inputs to a result; the supervisor (src/supervisor/
 * supervisor.ts) writes the status and maps the end to an exit code. A stop request at any point
 * ends the run cleanly (exit 0 when no VM ran yet).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config/options.js';
import { errorMessage } from './core/errors.js';
import type { Logger } from './core/log.js';
import { bootIsIso, plainProfile, type GuestHooks, type GuestProfile } from './guest/profile.js';
import type { HostFacts } from './host/facts.js';
import { preflight } from './host/preflight.js';
import { startLab, type Lab } from './lab/lab-stage.js';
import { resolveWebToken } from './http/auth.js';
import type { Metrics } from './http/metrics.js';
import { startWebServer, type WebServer, type WebServerOptions } from './http/server.js';
import type { ViewerOptions, ViewerWithBridge } from './http/viewer.js';
import type { withSnapshotApi } from './lab/snapshot-api.js';
import { startNetwork, type NetworkSession } from './network/network.js';
import { probeReadiness, watchReadiness, type Probe } from './network/readiness.js';
import { buildQemuArgs } from './qemu/args.js';
import { deviceSettings } from './qemu/device-settings.js';
import { launchQemu, type LaunchOptions, type QemuProcess } from './qemu/process.js';
import type { DriveSpec, NicModel, VmSpec } from './qemu/vm-spec.js';
import { QmpClient } from './qmp/client.js';
import { StateFile } from './state/state-file.js';
import { defaultStorageDeps, prepareStorage, type PreparedStorage, type ResolveVersionMedia } from './storage/prepare.js';
import { QemuImg } from './storage/qemu-img.js';
import { ensureStorageDir } from './storage/storage-dir.js';
import type { Resource, RunContext } from './supervisor/context.js';
import { DEFAULT_LADDER } from './supervisor/shutdown-ladder.js';
import type { StatusView } from './supervisor/status.js';
import type { StopRequests } from './supervisor/stop-requests.js';
import { Supervisor } from './supervisor/supervisor.js';
import { startTpm, type TpmSession } from './tpm/swtpm.js';
import { startTpmStage } from './tpm/tpm-stage.js';

/** The viewer's modules (ws, noVNC, prom-client): loaded off the critical path. */
export interface ViewerModules {
  createViewer(options: ViewerOptions): ViewerWithBridge;
  createMetrics(status: StatusView): Metrics;
  withSnapshotApi: typeof withSnapshotApi;
}

/** Every stage of a run, as the run calls it. */
export interface AppAdapters {
  ensureStorageDir(storageDir: string): Promise<void>;
  prepareRunDir(runDir: string): Promise<void>;
  startLab(ctx: RunContext): Promise<Lab>;
  startWebServer(options: WebServerOptions): Promise<WebServer>;
  preflight(ctx: RunContext): Promise<HostFacts>;
  resolveWebToken(ctx: RunContext): Promise<string | undefined>;
  /** `signal`: the run's stop (the profile may read your own ISO over the network). */
  loadGuest(config: Config, log: Logger, signal: AbortSignal): Promise<GuestProfile>;
  prepareStorage(ctx: RunContext, host: HostFacts, versionMedia: ResolveVersionMedia | undefined): Promise<PreparedStorage>;
  startTpm(ctx: RunContext): Promise<TpmSession>;
  startNetwork(ctx: RunContext, host: HostFacts, nic: NicModel | undefined): Promise<NetworkSession>;
  launchQemu(args: readonly string[], options: LaunchOptions): Promise<QemuProcess>;
  connectQmp(socket: string, signal: AbortSignal): Promise<QmpClient>;
  loadViewer(): Promise<ViewerModules>;
  probeReadiness: Probe;
  now(): Date;
}

export const REAL_ADAPTERS: AppAdapters = {
  ensureStorageDir,
  prepareRunDir,
  startLab,
  startWebServer,
  preflight,
  resolveWebToken,
  loadGuest: async (config, log, signal) =>
    config.boot && !bootIsIso(config.boot) ? plainProfile : (await import('./windows/windows-profile.js')).createWindowsProfile(config, log, signal),
  prepareStorage: (ctx, host, versionMedia) => prepareStorage(ctx, host, defaultStorageDeps(versionMedia ? { resolveVersionMedia: versionMedia } : {})),
  startTpm: (ctx) => startTpm(ctx),
  startNetwork: (ctx, host, nic) => startNetwork(ctx, host, undefined, nic),
  launchQemu,
  connectQmp: (socket, signal) => QmpClient.connect(socket, { timeoutMs: 30_000, signal }),
  loadViewer: async () => {
    const [{ createViewer }, { createMetrics }, { withSnapshotApi }] = await Promise.all([import('./http/viewer.js'), import('./http/metrics.js'), import('./lab/snapshot-api.js')]);
    return { createViewer, createMetrics, withSnapshotApi };
  },
  probeReadiness,
  now: () => new Date(),
};

export interface AppOptions {
  config: Config;
  log: Logger;
  stop: StopRequests;
  qemuBinary?: string;
  /** Stages to replace (tests); the rest are the real ones. */
  adapters?: Partial<AppAdapters>;
}

export async function runApp(options: AppOptions): Promise<number> {
  const { log, stop } = options;
  const adapters: AppAdapters = { ...REAL_ADAPTERS, ...options.adapters };
  const resources: Resource[] = [];
  // Filled as the stages return; the hooks below read them when their phase comes.
  const run: { viewer?: LazyViewer; lab?: Lab; guest?: GuestHooks; recordsInstall?: boolean; network?: NetworkSession; storage?: PreparedStorage; drives?: readonly DriveSpec[] } = {};
  const supervisor: Supervisor = new Supervisor({
    log,
    stop,
    now: adapters.now,
    hooks: {
      // The viewer is loaded as soon as a download leaves time for it, else right after QEMU starts.
      onDownloading: () => void run.viewer?.load(),
      onQemuStarted: () => void run.viewer?.load(),
      onRunning: async (qmp, signal) => {
        await run.lab?.attach(qmp, run.drives ?? []);
        run.guest?.onRunning?.((command, args, s) => qmp.execute(command, args, { signal: s }));
        await run.network?.afterQemuStart?.();
        const target = run.network?.readiness;
        if (!target) return;
        const report = { known: () => supervisor.status.snapshot.guestReachable, onChange: (reachable: boolean) => guestAnswers(reachable, supervisor, run.recordsInstall ? undefined : run.storage, log, target) };
        void watchReadiness(target, report, signal, adapters.probeReadiness);
      },
      onEnded: async (outcome) => {
        if (outcome.disksClosed) await run.storage?.recordDiskClosed().catch((error: Error) => log.warn({ err: error.message }, 'could not record the clean stop'));
      },
      onStopped: (seconds, endedBy) => void run.viewer?.metrics().then((m) => m?.observeShutdown(seconds, endedBy === 'guest' ? 'powered-off' : 'forced')),
    },
  });
  supervisor.setShutdownTimeout(options.config.shutdownTimeout);
  const state = new StateFile(options.config.storage, {
    onRecovered: (r) =>
      log.warn(
        { component: 'storage', file: r.file, kept: r.kept, reason: r.reason, recovered: r.recovered, dropped: r.dropped },
        'windock.json was damaged: the readable facts are kept, the damaged file is kept beside it',
      ),
  });
  const ctx: RunContext = { config: options.config, log, status: supervisor.status, onDownloadProgress: supervisor.downloadProgress, state, signal: stop.graceful };

  // The guest profile's modules (Windows: catalog, Microsoft's download flow, setup image) load
  // while the web server, preflight and token wait on I/O; loading touches nothing on disk (your
  // own ISO is only read: a URL's through a few range requests, bounded, ended by a stop).
  const guestLoading = adapters.loadGuest(options.config, log, stop.graceful);
  guestLoading.catch(() => undefined);
  try {
    // First of all: a read-only or unwritable STORAGE is one clear exit 2 before anything is touched.
    await adapters.ensureStorageDir(options.config.storage);
    await adapters.prepareRunDir(options.config.runDir);
    // The host checks wait on short programs (iptables, ip) and touch nothing windock builds:
    // they run while the control socket and the web server open, and their answer is awaited
    // where the run needs it, so a host that fails them still exits 3 before anything else starts.
    const hostChecked = adapters.preflight(ctx);
    hostChecked.catch(() => undefined);
    const lab = (run.lab = await adapters.startLab(ctx));
    resources.push(lab.server);
    const web = await adapters.startWebServer({ port: options.config.webPort, status: supervisor.status, log: log.child({ component: 'http' }) });
    resources.push({ name: 'web server', close: () => web.close() });
    const host = await hostChecked;

    // The viewer token (a windock.json write, fsynced, on a first start) is made while swtpm
    // starts: neither reads what the other writes (StateFile serializes the writes).
    const tokenResolved = adapters.resolveWebToken(ctx);
    tokenResolved.catch(() => undefined);
    const profile = await guestLoading;
    const recorded = await ctx.state.read();
    const settled = profile.settle(options.config, recorded, log);
    // The TPM before storage: a swtpm that cannot start may change the firmware (tpm-stage.ts),
    // and storage makes the variable store, the guest profile the answer file, from that mode.
    const tpmStarted = startTpmStage({ ...ctx, config: settled }, () => adapters.startTpm({ ...ctx, config: settled }), {
      userBootMode: options.config.bootMode,
      recordedBootMode: recorded.bootMode,
      guestInstallsWithoutTpm: profile.installsWithoutTpm,
    });
    // A swtpm started while the token failed is still taken down: it joins the resources first.
    const early = await tpmStarted.finally(() => tokenResolved.catch(() => undefined));
    if (early.tpm) resources.push(early.tpm);
    const token = await tokenResolved;
    const vncSocket = join(options.config.runDir, 'vnc.sock');
    run.viewer = lazyViewer(ctx, adapters.loadViewer, web, { vncSocket, token, lab: lab.handle }, resources);
    const config = early.config;
    const stageCtx: RunContext = { ...ctx, config };
    // EPHEMERAL=Y swaps in the session's throw-away overlay before the guest profile sees the disk.
    const storage = (run.storage = await lab.prepare(await adapters.prepareStorage(stageCtx, host, profile.versionMedia), new QemuImg()));
    const guest = await profile.prepare(stageCtx, storage);
    run.guest = guest.hooks;
    run.recordsInstall = guest.recordsInstall;
    // Storage chose secure by a rule the step above did not foresee: its TPM, without a fallback.
    const tpm = early.tpm ?? (storage.firmware.mode === 'secure' ? await adapters.startTpm(stageCtx) : undefined);
    if (tpm && !early.tpm) resources.push(tpm);
    // ADAPTER wins over the NIC the guest profile chose, which wins over the network's default.
    const network = (run.network = await adapters.startNetwork(stageCtx, host, config.adapter ?? guest.nic));
    resources.push(network);
    supervisor.guestAddress(network.guestAddress);
    ctx.signal.throwIfAborted();

    const spec: VmSpec = {
      name: 'windock',
      accel: config.kvm ? 'kvm' : 'tcg',
      ramBytes: config.ramSize,
      cpuCores: config.cpuCores,
      firmware: storage.firmware,
      drives: (run.drives = guest.drives),
      network: network.spec,
      qmpSocket: join(config.runDir, 'qmp.sock'),
      vncSocket,
      tpmSocket: tpm?.socket,
      guest: guest.machine ? { ...guest.machine, amdHost: host.cpuVirtualization === 'svm' } : undefined,
      extraArgs: [...lab.qemuArgs, ...guest.extraArgs, ...config.arguments],
      devices: deviceSettings(config),
    };
    const args = buildQemuArgs(spec);
    log.debug({ argv: args }, 'QEMU command line');
    supervisor.watchHelpers([network.died, tpm?.died]);

    const serial = log.child({ component: 'serial' });
    const qemuLog = log.child({ component: 'qemu' });
    return await supervisor.runVm({
      launch: () =>
        adapters.launchQemu(args, {
          binary: options.qemuBinary ?? 'qemu-system-x86_64',
          passFds: network.passFds,
          log: qemuLog,
          onStderrLine: (line) => qemuLog.warn(line),
          onSerialLine: (line) => {
            serial.debug(line);
            guest.hooks.onSerialLine?.(line);
          },
        }),
      connectQmp: (signal) => adapters.connectQmp(spec.qmpSocket, signal),
      ladder: { ...DEFAULT_LADDER, guestMs: config.shutdownTimeout * 1000 },
      guestIgnoresPowerButton: () => guest.hooks.ignoresPowerButton?.() ?? false,
    });
  } catch (error) {
    return supervisor.failed(error);
  } finally {
    await closeAll(resources, log);
    await rm(join(options.config.runDir, 'qmp.sock'), { force: true }).catch(() => undefined);
  }
}

/**
 * The guest's READY_PORT answer changed: the status follows, and a first answer records the boot
 * from disk — unless the guest profile records the install from its own evidence (no `storage`).
 */
async function guestAnswers(reachable: boolean, supervisor: Supervisor, storage: PreparedStorage | undefined, log: Logger, target: { host: string; port: number }): Promise<void> {
  supervisor.guestReachable(reachable);
  log.info({ address: target.host, port: target.port, reachable }, reachable ? 'the guest answers' : 'the guest stopped answering');
  if (reachable) await storage?.markBootedFromDisk().catch((error: Error) => log.warn({ err: error.message }, 'could not record the install state'));
}

interface LazyViewer {
  /** Loads and installs the viewer once; later calls return the same promise. */
  load(): Promise<void>;
  metrics(): Promise<Metrics | undefined>;
}

function lazyViewer(
  ctx: RunContext,
  loadModules: () => Promise<ViewerModules>,
  web: WebServer,
  options: { vncSocket: string; token: string | undefined; lab: Lab['handle'] },
  resources: Resource[],
): LazyViewer {
  let loading: Promise<Metrics | undefined> | undefined;
  const load = (): Promise<Metrics | undefined> =>
    (loading ??= (async () => {
      const { createViewer, createMetrics, withSnapshotApi } = await loadModules();
      const metrics = createMetrics(ctx.status);
      const viewer = createViewer({ vncSocket: options.vncSocket, status: ctx.status, log: ctx.log, auth: { token: options.token }, viewOnly: ctx.config.viewOnly, metrics });
      web.setDelegate(withSnapshotApi(viewer, options.lab, options.token));
      resources.push({ name: 'viewer', close: () => viewer.close() });
      return metrics;
    })().catch((error: Error) => {
      ctx.log.error({ err: error.message }, 'the viewer could not be loaded');
      return undefined;
    }));
  return { load: async () => void (await load()), metrics: () => loading ?? Promise.resolve(undefined) };
}

/** RUN_DIR is private: sockets of QEMU's monitor and screen live there (0700, root only). */
async function prepareRunDir(runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  // Sockets left by a crashed run would make a new QEMU fail to bind (house rule 9).
  await Promise.all(['qmp.sock', 'vnc.sock'].map((name) => rm(join(runDir, name), { force: true })));
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
