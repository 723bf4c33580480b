/**
 * A fake host tree in a temp directory for preflight tests: dev/, proc/, sys/ and etc/group as
 * files, plus a table of device numbers (a temp dir cannot hold real device nodes without root)
 * and a recording `run` that answers `iptables --version`, `groupadd` and `mknod`.
 */
import { appendFile, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { RunContext } from '../../../src/supervisor/context.js';
import type { PreflightDeps } from '../../../src/host/preflight.js';
import type { DeviceInfo, RunResult } from '../../../src/host/probe.js';
import { createLogger } from '../../../src/core/log.js';
import { StateFile } from '../../../src/state/state-file.js';
import { StatusStore } from '../../../src/supervisor/status.js';

export interface FakeHost {
  root: string;
  deps: PreflightDeps;
  devices: Map<string, DeviceInfo>;
  calls: string[][];
  /** Paths that refuse to open read-write (EACCES). */
  unopenable: Set<string>;
  cleanup(): Promise<void>;
}

export interface FakeHostOptions {
  kvm?: boolean;
  tun?: boolean;
  vhostNet?: boolean;
  netAdmin?: boolean;
  ipForward?: boolean;
  /** Make ip_forward unwritable (a directory in its place makes writeFile fail with EISDIR). */
  ipForwardReadOnly?: boolean;
  cpuFlags?: string;
  memAvailableKiB?: number;
  cgroupMemoryMax?: string;
  cgroupCpuMax?: string;
  kvmGroup?: boolean;
  mknodWorks?: boolean;
  iptables?: string | undefined;
  /** Text of /run/.containerenv (Podman); absent when undefined. */
  containerEnv?: string | undefined;
  /** Text of /proc/self/uid_map; absent when undefined. */
  uidMap?: string | undefined;
}

export async function makeFakeHost(options: FakeHostOptions = {}): Promise<FakeHost> {
  const o = {
    kvm: true, tun: true, vhostNet: true, netAdmin: true, ipForward: true, ipForwardReadOnly: false,
    cpuFlags: 'fpu vme vmx sse2', memAvailableKiB: 16 * 1024 * 1024, kvmGroup: true, mknodWorks: true,
    iptables: 'iptables v1.8.9 (nf_tables)', ...options,
  };
  const root = await mkdtemp(join(tmpdir(), 'windock-fakehost-'));
  const file = async (path: string, text: string) => {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  };
  const devices = new Map<string, DeviceInfo>();
  const unopenable = new Set<string>();
  const calls: string[][] = [];
  const device = async (path: string, major: number, minor: number, gid = 0, mode = 0o600) => {
    await file(path, '');
    await chmod(join(root, path), mode);
    devices.set(join(root, path), { charDevice: true, major, minor, uid: 0, gid, mode });
  };
  if (o.kvm) await device('dev/kvm', 10, 232);
  if (o.tun) await device('dev/net/tun', 10, 200, 0, 0o666);
  if (o.vhostNet) await device('dev/vhost-net', 10, 238);
  await mkdir(join(root, 'dev'), { recursive: true });
  await file('proc/cpuinfo', `processor\t: 0\nflags\t\t: ${o.cpuFlags}\n`);
  await file('proc/self/status', `Name:\tnode\nCapEff:\t${o.netAdmin ? '000001fffeffffff' : '00000000a80425fb'}\n`);
  await file('proc/meminfo', `MemTotal:       32000000 kB\nMemAvailable:   ${o.memAvailableKiB} kB\n`);
  if (o.ipForwardReadOnly) await mkdir(join(root, 'proc/sys/net/ipv4/ip_forward'), { recursive: true });
  else await file('proc/sys/net/ipv4/ip_forward', o.ipForward ? '1\n' : '0\n');
  if (o.cgroupMemoryMax !== undefined) await file('sys/fs/cgroup/memory.max', `${o.cgroupMemoryMax}\n`);
  if (o.cgroupCpuMax !== undefined) await file('sys/fs/cgroup/cpu.max', `${o.cgroupCpuMax}\n`);
  if (o.containerEnv !== undefined) await file('run/.containerenv', o.containerEnv);
  if (o.uidMap !== undefined) await file('proc/self/uid_map', o.uidMap);
  await file('etc/group', `root:x:0:\n${o.kvmGroup ? 'kvm:x:993:\n' : ''}`);
  await mkdir(join(root, 'bin'), { recursive: true });
  await file('bin/dnsmasq', '#!/bin/sh\n');
  await chmod(join(root, 'bin/dnsmasq'), 0o755);

  const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
  const deps: PreflightDeps = {
    devDir: join(root, 'dev'),
    procDir: join(root, 'proc'),
    sysDir: join(root, 'sys'),
    groupFile: join(root, 'etc/group'),
    containerEnvFile: join(root, 'run/.containerenv'),
    dockerEnvFile: join(root, '.dockerenv'),
    programDirs: [join(root, 'bin')],
    cpuCount: () => 8,
    statDevice: async (path) => {
      const known = devices.get(path);
      if (!known) return undefined;
      // The fake tree's mode and group are the real ones of the placeholder file (chmod/chown act on it).
      const { stat } = await import('node:fs/promises');
      const s = await stat(path).catch(() => undefined);
      return s ? { ...known, gid: s.gid, mode: s.mode & 0o7777 } : undefined;
    },
    openReadWrite: async (path) => {
      if (unopenable.has(path)) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
    },
    run: async (program, args) => {
      calls.push([program, ...args]);
      if (program === 'iptables') return o.iptables === undefined ? { exitCode: 127, stdout: '', stderr: 'not found' } : ok(o.iptables);
      if (program === 'groupadd') {
        await appendFile(join(root, 'etc/group'), 'kvm:x:994:\n');
        return ok();
      }
      if (program === 'mknod') {
        if (!o.mknodWorks) return { exitCode: 1, stdout: '', stderr: 'mknod: Operation not permitted' };
        const path = args[2]!;
        await writeFile(path, '');
        devices.set(path, { charDevice: true, major: Number(args[4]), minor: Number(args[5]), uid: 0, gid: 0, mode: 0o666 });
        return ok();
      }
      return { exitCode: 127, stdout: '', stderr: `${program}: not faked` };
    },
  };
  return { root, deps, devices, calls, unopenable, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export interface TestContext {
  ctx: RunContext;
  lines: () => Array<Record<string, unknown>>;
}

export function makeContext(env: Record<string, string>, storageDir: string): TestContext {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ level: 'debug', pretty: false, destination });
  const ctx: RunContext = {
    config: resolveConfig(env),
    log,
    status: new StatusStore(),
    state: new StateFile(storageDir),
    signal: new AbortController().signal,
  };
  const lines = () =>
    chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ctx, lines };
}
