/**
 * Shared steps of the network e2e tests: the real `windock` binary in a namespace playing the
 * container, the test guest on its own STORAGE, and what the test side (the "Docker host") sees.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll } from 'vitest';
import { copyGuestDisk, ensureTestGuest } from '../fixtures/guest.js';
import { destroyAllNetns, type Netns } from '../fixtures/netns.js';
import { httpStatus, killRuns, serialLine, startWindock, tempDir, vmEnv, type LogLine, type WindockRun } from '../fixtures/windock.js';

/** Inside a namespace every container has its own port space: windock's default web port. */
export const WEB_PORT = 8006;
/** Drops NET_ADMIN from the bounding and inheritable sets, so that root's execve cannot regain it. */
export const NO_NET_ADMIN = ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', '--'];

export interface Instance {
  run: WindockRun;
  storage: string;
  runDir: string;
}

const dirs: string[] = [];
const runs: WindockRun[] = [];

/** A fresh STORAGE holding a copy of the test guest's disk. */
export async function guestStorage(): Promise<{ storage: string; runDir: string }> {
  const dir = await tempDir('net-e2e');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  await copyGuestDisk(storage);
  return { storage, runDir: join(dir, 'run') };
}

/** Starts windock in the namespace on the given STORAGE (legacy boot: the fastest under TCG). */
export function startIn(
  ns: Netns,
  where: { storage: string; runDir: string },
  extra: Record<string, string>,
  wrap: string[] = [],
): Instance {
  const run = startWindock({
    env: vmEnv(where.storage, where.runDir, WEB_PORT, { BOOT_MODE: 'legacy', ...extra }),
    prefix: [...ns.prefix, ...wrap],
  });
  runs.push(run);
  return { run, ...where };
}

/**
 * The hooks of a network e2e file: the test guest built once (when the file boots it), and after
 * each test whatever it started killed, its directories removed and its namespaces deleted.
 */
export function useNetworkTestHooks({ guest }: { guest: boolean }): void {
  if (guest) {
    beforeAll(async () => {
      await ensureTestGuest();
    }, 1_200_000);
  }
  afterEach(async () => {
    await killRuns(runs, dirs);
    await destroyAllNetns();
  });
}

/** Waits until the guest took its DHCP lease and listens; returns the leased address and its MAC. */
export async function guestUp(run: WindockRun, timeoutMs = 240_000): Promise<{ ip: string; mac: string }> {
  const dhcp = await run.waitForLine(serialLine('windock-guest: dhcp ip='), timeoutMs);
  await run.waitForLine(serialLine('windock-guest: listening'), timeoutMs);
  const nic = run.lines.find(serialLine('windock-guest: nic '));
  return { ip: /dhcp ip=(\d+\.\d+\.\d+\.\d+)/.exec(dhcp.msg)![1]!, mac: /mac=(\S+)/.exec(nic?.msg ?? '')?.[1] ?? '' };
}

export interface HealthBody {
  phase: string;
  guest: { state: string | null; address: string | null; reachable: boolean };
}

export async function health(host: string, path = '/health'): Promise<{ status: number; body: HealthBody | undefined }> {
  const { status, body } = await httpStatus(`http://${host}:${WEB_PORT}${path}`);
  try {
    return { status, body: JSON.parse(body) as HealthBody };
  } catch {
    return { status, body: undefined };
  }
}

/** `iptables-save` lines inside the namespace that carry windock's tag or chains, per table. */
export async function windockRules(ns: Netns): Promise<Record<'nat' | 'filter' | 'mangle', string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of ['nat', 'filter', 'mangle']) {
    const save = await ns.exec('iptables-save', ['-t', table]);
    if (save.exitCode !== 0) throw new Error(`iptables-save -t ${table} failed: ${String(save.stderr)}`);
    result[table] = String(save.stdout)
      .split('\n')
      .filter((line) => /windock/i.test(line));
  }
  return result as Record<'nat' | 'filter' | 'mangle', string[]>;
}

/** Names of the links in the namespace. */
export async function links(ns: Netns): Promise<string[]> {
  const result = await ns.exec('ip', ['-o', 'link', 'show']);
  return String(result.stdout)
    .split('\n')
    .map((line) => /^\d+:\s+([^:@]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** argv[0] of every process in the namespace. */
export async function programsInside(ns: Netns): Promise<string[]> {
  const { stdout } = await execa('ip', ['netns', 'pids', ns.name], { reject: false });
  const names: string[] = [];
  for (const pid of String(stdout).split(/\s+/).filter(Boolean)) {
    const comm = await execa('cat', [`/proc/${pid}/comm`], { reject: false });
    if (comm.exitCode === 0) names.push(String(comm.stdout).trim());
  }
  return names;
}

/** The error windock logged before it exited (the failed run's last error line). */
export function errorLine(run: WindockRun): LogLine | undefined {
  return [...run.lines].reverse().find((l) => l.level >= 50 && typeof l.exitCode === 'number');
}

/** Kills a process by pid; a process already gone is fine. */
export function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
