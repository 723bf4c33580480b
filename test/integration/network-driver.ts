/**
 * Runs `preflight` + `startNetwork` as a separate node process inside a test namespace (netlink,
 * iptables and dnsmasq act in the namespace of the process that runs them). The driver prints
 * one JSON line when the network is up, `{"event":"died"}` when a helper dies, and closes the
 * session when it reads "close" on stdin.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { NetworkSpec } from '../../src/qemu/vm-spec.js';
import type { NetworkPlan } from '../../src/network/network-plan.js';
import type { Netns } from '../fixtures/netns.js';

const DRIVER = `
const b = process.env.WD_BUILD;
const { resolveConfig } = await import(b + '/config/resolve.js');
const { createLogger } = await import(b + '/core/log.js');
const { StatusStore } = await import(b + '/supervisor/status.js');
const { StateFile } = await import(b + '/state/state-file.js');
const { preflight } = await import(b + '/host/preflight.js');
const { startNetwork } = await import(b + '/network/network.js');
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
try {
  const config = resolveConfig(JSON.parse(process.env.WD_ENV));
  const log = createLogger({ level: 'debug', pretty: false, destination: { write: (s) => process.stderr.write(s) } });
  const ctx = { config, log, status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal };
  const host = await preflight(ctx);
  const session = await startNetwork(ctx, host);
  say({ event: 'ready', spec: session.spec, guestAddress: session.guestAddress, readiness: session.readiness, plan: session.plan });
  session.died?.then((e) => say({ event: 'died', message: e.message }));
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async (text) => {
    if (!text.includes('close')) return;
    await session.close();
    say({ event: 'closed' });
    process.exit(0);
  });
} catch (error) {
  say({ event: 'error', message: error.message, code: error.code, hint: error.hint });
  process.exit(error.exitCode ?? 1);
}
`;

export interface DriverReady {
  event: 'ready';
  spec: NetworkSpec;
  guestAddress: string | undefined;
  readiness: { host: string; port: number } | undefined;
  plan: NetworkPlan | undefined;
}

export interface Driver {
  child: ChildProcess;
  ready: DriverReady;
  stderr: () => string;
  close(): Promise<void>;
  /** The next event line of the given kind. */
  next(event: string, timeoutMs: number): Promise<Record<string, unknown>>;
}

export async function startDriver(
  ns: Netns,
  build: string,
  env: Record<string, string>,
  options: { wrap?: string[] } = {},
): Promise<Driver> {
  const argv = [...(options.wrap ?? []), process.execPath, '--input-type=module', '-e', DRIVER];
  const child = ns.spawn(argv[0]!, argv.slice(1), {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', WD_BUILD: build, WD_ENV: JSON.stringify(env) },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const events: Record<string, unknown>[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of waiters.splice(0)) w();
  });
  child.on('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  const next = async (event: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = events.findIndex((e) => e.event === event || e.event === 'error');
      if (index >= 0) {
        const [found] = events.splice(index, 1);
        if (found!.event === 'error' && event !== 'error') throw new Error(`driver failed: ${JSON.stringify(found)}\n${err}`);
        return found!;
      }
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`driver exited (${child.exitCode ?? child.signalCode}) before ${event}:\n${err}`);
      if (Date.now() > deadline) throw new Error(`driver: no ${event} within ${timeoutMs} ms:\n${err}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const ready = (await next('ready', 30_000)) as unknown as DriverReady;
  return {
    child,
    ready,
    stderr: () => err,
    next,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.write('close\n');
      await next('closed', 20_000);
    },
  };
}

/** Runs preflight + startNetwork expecting a failure; resolves with the error line and exit code. */
export async function driverFailure(ns: Netns, build: string, env: Record<string, string>, wrap: string[] = []) {
  const result = await ns.exec(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), '--input-type=module', '-e', DRIVER], {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', WD_BUILD: build, WD_ENV: JSON.stringify(env) },
  });
  const line = String(result.stdout).split('\n').find((l) => l.includes('"event"'));
  return { exitCode: result.exitCode, event: line ? (JSON.parse(line) as Record<string, unknown>) : undefined, stderr: String(result.stderr) };
}
