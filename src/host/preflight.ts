/**
 * Host preflight: probe, fix what a container may fix on its own, probe again, and refuse with
 * exit 3 and the exact fix for whatever is still missing. The supervisor calls this before it
 * builds anything.
 *
 * Fixes (the same ones dockur/windows applies in its entry scripts):
 * - /dev/kvm gets group `kvm` and at least mode 0660, so that a QEMU running as a member of `kvm`
 *   can open it; the group is created when the image lacks it.
 * - /dev/net/tun is created (char 10:200) when NETWORK=tap and Docker passed no node: the kernel
 *   module may be there even though the device node is not (needs CAP_MKNOD).
 * - net.ipv4.ip_forward is set to 1 when NETWORK=tap (needs a writable /proc/sys, which Docker
 *   gives privileged containers or containers started with --sysctl).
 */
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunContext } from '../supervisor/context.js';
import { checkHost, checkNetworkNamespace, combineHostProblems, hostNetnsEvidence } from './check.js';
import type { AppError } from '../core/errors.js';
import { chooseNetworkMode, judgeEngine, type EngineFacts } from './engine.js';
import type { HostFacts } from './facts.js';
import {
  defaultProbeDeps,
  ipForwardPath,
  probeHost,
  probeIpForward,
  probeKvm,
  probeTun,
  TUN_DEVICE,
  type ProbeDeps,
} from './probe.js';

export interface PreflightDeps extends ProbeDeps {
  /** /etc/group, read to find (or learn that we must create) the `kvm` group. */
  groupFile: string;
  /** Podman's /run/.containerenv and Docker's /.dockerenv (engine.ts). */
  containerEnvFile: string;
  dockerEnvFile: string;
}

export function defaultPreflightDeps(overrides: Partial<PreflightDeps> = {}): PreflightDeps {
  return { ...defaultProbeDeps(overrides), groupFile: '/etc/group', containerEnvFile: '/run/.containerenv', dockerEnvFile: '/.dockerenv', ...overrides };
}

export async function preflight(ctx: RunContext, deps: PreflightDeps = defaultPreflightDeps()): Promise<HostFacts> {
  const log = ctx.log.child({ component: 'preflight' });
  const { config } = ctx;
  let facts = await probeHost(deps);
  log.debug({ facts }, 'host probed');
  // Before any fix below: in the host's own namespace, even setting ip_forward would change the host.
  const hostNetns = checkNetworkNamespace(config, facts.netns);
  if (hostNetns) throw hostNetns;
  const evidence = config.network === 'tap' && config.hostNetwork ? hostNetnsEvidence(facts.netns) : [];
  if (evidence.length > 0) log.warn({ evidence }, "HOST_NETWORK=Y: NETWORK=tap runs in what looks like the host's network namespace");

  // Also with KVM=N: a /dev/kvm passed into the container gets the same group and mode either way,
  // so that what `docker exec` shows does not depend on the accelerator chosen.
  if (facts.kvm.present) {
    await fixKvmPermissions(deps, log);
    facts = { ...facts, kvm: await probeKvm(deps) };
  }
  if (config.network === 'tap' && !config.dhcp) {
    if (!facts.tun) {
      await createTunNode(deps, log);
      facts = { ...facts, tun: await probeTun(deps) };
    }
    if (!facts.ipForward) {
      await enableIpForward(deps, log);
      facts = { ...facts, ipForward: await probeIpForward(deps) };
    }
  }
  if (!config.kvm) {
    log.warn('KVM=N: the guest runs under TCG software emulation, which is many times slower');
  }
  if (!config.ramCheck && config.ramSize > facts.memoryAvailableBytes && facts.memoryAvailableBytes > 0) {
    log.warn(
      { ramSize: config.ramSize, memoryAvailableBytes: facts.memoryAvailableBytes },
      'RAM_CHECK=N: RAM_SIZE exceeds the memory available to the container',
    );
  }

  const engine = await probeEngine(deps);
  const tapProblems = config.network === 'tap' ? newProblems(checkHost(config, facts), checkHost({ ...config, network: 'none' }, facts)) : [];
  const network = chooseNetworkMode(config.network, engine, tapProblems, config.dhcp);
  if (network.reason) log.warn({ engine: engine.engine, rootless: engine.rootless, evidence: engine.evidence }, network.reason);
  facts = { ...facts, engine, ...(network.mode !== config.network ? { networkMode: network.mode } : {}) };

  const problem = combineHostProblems(checkHost({ ...config, network: network.mode }, facts));
  if (problem) throw problem;
  log.info(
    {
      kvm: facts.kvm.usable,
      tun: facts.tun,
      vhostNet: facts.vhostNet,
      netAdmin: facts.netAdmin,
      ipForward: facts.ipForward,
      iptables: facts.iptablesBackend,
      memoryAvailableBytes: facts.memoryAvailableBytes,
      cpus: facts.cpusAvailable,
    },
    'host ready',
  );
  return facts;
}

type Log = RunContext['log'];

/** Problems in `all` that `without` lacks: those one setting brings. */
function newProblems(all: AppError[], without: AppError[]): AppError[] {
  const known = new Set(without.map((p) => p.message));
  return all.filter((p) => !known.has(p.message));
}

async function probeEngine(deps: PreflightDeps): Promise<EngineFacts> {
  const text = (path: string) => readFile(path, 'utf8').catch(() => undefined);
  const [containerEnv, dockerEnv, uidMap] = await Promise.all([
    text(deps.containerEnvFile),
    text(deps.dockerEnvFile).then((t) => t !== undefined),
    text(join(deps.procDir, 'self', 'uid_map')),
  ]);
  return judgeEngine({ containerEnv, dockerEnv, uidMap });
}

async function fixKvmPermissions(deps: PreflightDeps, log: Log): Promise<void> {
  const path = join(deps.devDir, 'kvm');
  const info = await deps.statDevice(path);
  if (!info) return;
  try {
    let gid = await findGroupId(deps.groupFile, 'kvm');
    if (gid === undefined) {
      const result = await deps.run('groupadd', ['--system', 'kvm']);
      if (result.exitCode !== 0) throw new Error(`groupadd --system kvm failed: ${result.stderr.trim()}`);
      gid = await findGroupId(deps.groupFile, 'kvm');
      if (gid === undefined) throw new Error(`groupadd created no kvm group in ${deps.groupFile}`);
      log.info({ gid }, 'created group kvm');
    }
    if (info.gid !== gid) await chown(path, info.uid, gid);
    // Only add the group bits: a host that made the device 0666 keeps its wider access.
    if ((info.mode & 0o660) !== 0o660) await chmod(path, info.mode | 0o660);
  } catch (error) {
    // Not fatal on its own: root can open the device regardless; the re-probe decides.
    log.warn({ err: error, path }, 'could not give /dev/kvm group kvm and mode 0660');
  }
}

async function findGroupId(groupFile: string, name: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

async function createTunNode(deps: PreflightDeps, log: Log): Promise<void> {
  const dir = join(deps.devDir, 'net');
  const path = join(dir, 'tun');
  try {
    await mkdir(dir, { recursive: true });
    // Node has no mknod(2); coreutils' mknod takes an argv like any program.
    const result = await deps.run('mknod', ['-m', '0666', path, 'c', String(TUN_DEVICE.major), String(TUN_DEVICE.minor)]);
    if (result.exitCode !== 0) throw new Error(result.stderr.trim() || `mknod exited ${result.exitCode}`);
    log.info({ path }, 'created /dev/net/tun');
  } catch (error) {
    log.warn({ err: error, path }, 'could not create /dev/net/tun');
  }
}

async function enableIpForward(deps: PreflightDeps, log: Log): Promise<void> {
  const path = ipForwardPath(deps);
  try {
    await writeFile(path, '1\n');
    log.info('set net.ipv4.ip_forward=1');
  } catch (error) {
    // /proc/sys is read-only in an unprivileged container; only --sysctl can set it.
    log.warn({ err: error }, 'could not set net.ipv4.ip_forward=1');
  }
}
