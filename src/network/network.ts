/**
 * Builds the guest's network for the configured NETWORK mode and returns what QEMU needs (the
 * NetworkSpec) plus a handle that takes it all down again.
 *
 * - tap: bridge + persistent tap (netlink.ts), dnsmasq with one fixed lease (dhcp.ts), iptables
 *   DNAT/MASQUERADE (firewall.ts). A start first removes what a crashed run left behind.
 * - user: passt when installed, a dated release (judgePasstVersion) and QEMU has `-netdev stream`
 *   (QEMU 7.2+), else QEMU's own slirp with host forwards. Needs no privileges.
 * - none: no NIC.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { networkInterfaces, userInfo } from 'node:os';
import { join } from 'node:path';
import { RDP_PORT } from '../config/cross-check.js';
import type { Config } from '../config/options.js';
import type { PortRule } from '../config/parsers.js';
import type { Resource, RunContext } from '../supervisor/context.js';
import { AppError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { startHelper, type Helper } from '../process/helper.js';
import type { NetworkSpec, NicModel } from '../qemu/vm-spec.js';
import { readUpstreamDns, startDnsmasq } from './dhcp.js';
import { startLanNetwork } from './lan.js';
import { findShare, offerShare } from './samba.js';
import { chooseSlirpNet, type Ipv4Network } from './slirp-net.js';
import type { HostFacts } from '../host/facts.js';
import { buildFirewallRules, iptablesFirewall, type Firewall } from './firewall.js';
import { openLinkOps, type LinkOps } from './netlink.js';
import { BRIDGE_NAME, chooseMac, findUplink, planNetwork, TAP_NAME, type NetworkPlan } from './network-plan.js';
import { realRun, type RunProgram } from '../host/probe.js';

export interface NetworkSession extends Resource {
  spec: NetworkSpec;
  /** The guest's IPv4 address as the container sees it (the fixed DHCP lease for tap). */
  guestAddress: string | undefined;
  /**
   * Where to probe for /health/ready: the guest directly (tap) or the forwarded port on loopback
   * (user). `expectReply`: only an answer counts, not an accepted connection — passt and slirp
   * accept on the container side and hold the connection open while the guest is not even up.
   */
  readiness: { host: string; port: number; expectReply?: boolean } | undefined;
  /** The tap plan, for NETWORK=tap (tests and /health details). */
  plan?: NetworkPlan;
  /** Called by the supervisor once QEMU runs. Unused today: the tap is a bridge port before QEMU starts. */
  afterQemuStart?(): Promise<void>;
  /** Open descriptors QEMU inherits as fd 3, 4, … (DHCP=Y: the macvtap, lan.ts). */
  passFds?: number[];
  /** Resolves when a helper (dnsmasq, passt) exits unexpectedly; the supervisor races it. */
  died?: Promise<Error>;
}

export interface NetworkDeps {
  run: RunProgram;
  procDir: string;
  sysDir: string;
  resolvConf: string;
  openLinks(run: RunProgram): LinkOps;
  firewall(run: RunProgram): Firewall;
  random(bytes: number): Uint8Array;
  /** The container's IPv4 networks (QEMU's slirp network must not overlap them, slirp-net.ts). */
  ipv4Networks(): Ipv4Network[];
  programs: { dnsmasq: string; passt: string; qemu: string; smbd: string };
}

export function defaultNetworkDeps(overrides: Partial<NetworkDeps> = {}): NetworkDeps {
  return {
    run: realRun,
    procDir: '/proc',
    sysDir: '/sys',
    resolvConf: '/etc/resolv.conf',
    openLinks: openLinkOps,
    firewall: (run) => iptablesFirewall(run),
    random: (n) => randomBytes(n),
    ipv4Networks: () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ address: a.address, prefixLength: Number(a.cidr?.split('/')[1] ?? 32) }))),
    programs: { dnsmasq: 'dnsmasq', passt: 'passt', qemu: 'qemu-system-x86_64', smbd: 'smbd' },
    ...overrides,
  };
}

/** The RDP port: the one users publish (`-p 3389:3389/tcp -p 3389:3389/udp`). */
export { RDP_PORT };
const NIC_MODEL: NicModel = 'virtio-net-pci';

/**
 * `nic`: the model the guest profile needs (Windows without virtio drivers: e1000e); unset, the
 * network's own default.
 */
export async function startNetwork(
  ctx: RunContext,
  host: HostFacts,
  deps: NetworkDeps = defaultNetworkDeps(),
  nic?: NicModel,
): Promise<NetworkSession> {
  const log = ctx.log.child({ component: 'network' });
  const session = await startMode(ctx, host, deps, log);
  return nic && session.spec.mode !== 'none' ? { ...session, spec: { ...session.spec, model: nic } } : session;
}

async function startMode(ctx: RunContext, host: HostFacts, deps: NetworkDeps, log: Logger): Promise<NetworkSession> {
  // The preflight may have chosen another mode (rootless Podman: user, host/engine.ts).
  switch (host.networkMode ?? ctx.config.network) {
    case 'none':
      return { name: 'network', spec: { mode: 'none' }, guestAddress: undefined, readiness: undefined, close: async () => {} };
    case 'user':
      return startUserNetwork(ctx, host, deps, log);
    case 'tap':
      if (ctx.config.dhcp) return startLanNetwork(ctx, deps, await resolveGuestMac(ctx, deps.random), NIC_MODEL, log);
      return startTapNetwork(ctx, host, deps, log);
  }
}

/** The MAC setting, else the one in windock.json, else a new one persisted there. */
export async function resolveGuestMac(ctx: RunContext, random: (n: number) => Uint8Array): Promise<string> {
  const state = await ctx.state.read();
  const mac = chooseMac(ctx.config.mac, state.mac, random(5));
  if (!ctx.config.mac && state.mac !== mac) {
    await ctx.state.update((s) => {
      s.mac = mac;
    });
  }
  return mac;
}

// ---------------------------------------------------------------------------------------------
// NETWORK=tap

async function startTapNetwork(ctx: RunContext, host: HostFacts, deps: NetworkDeps, log: Logger): Promise<NetworkSession> {
  const { config } = ctx;
  await removeTapLeftovers(deps, config.runDir, log);
  const mac = await resolveGuestMac(ctx, deps.random);

  const links = deps.openLinks(deps.run);
  const firewall = deps.firewall(deps.run);
  let dnsmasq: Helper | undefined;
  let smbd: Helper | undefined;
  let closed = false;
  const teardown = async () => {
    if (closed) return;
    closed = true;
    await smbd?.stop().catch((e: unknown) => log.warn({ err: e }, 'could not stop smbd'));
    await dnsmasq?.stop().catch((e: unknown) => log.warn({ err: e }, 'could not stop dnsmasq'));
    await removeTapNetwork(deps, log);
  };

  try {
    const plan = planNetwork(config, host, await links.inventory(), mac);
    log.info(
      { uplink: plan.uplink, bridge: plan.bridge, tap: plan.tap, subnet: `${plan.subnet.network}/${plan.subnet.prefixLength}`, guest: plan.guestAddress, mac },
      'building the guest network',
    );
    await links.createBridge(plan.bridge);
    await links.addAddress(plan.bridge, plan.bridgeAddress, plan.subnet.prefixLength);
    await links.setUp(plan.bridge);
    await links.createTap(plan.tap);
    await links.setMaster(plan.tap, plan.bridge);
    await links.setUp(plan.tap);

    await firewall.apply(
      buildFirewallRules({ plan, webPort: config.webPort, hostPorts: config.hostPorts, id: plan.bridge }),
    );

    await mkdir(config.runDir, { recursive: true, mode: 0o700 });
    const upstream = await readUpstreamDns(deps.resolvConf, [plan.bridgeAddress]);
    dnsmasq = await startDnsmasq(
      { plan, runDir: config.runDir, upstream, debug: config.debug },
      log,
      { program: deps.programs.dnsmasq, signal: ctx.signal },
    );
    smbd = await offerShare(config, { name: plan.bridge, address: plan.bridgeAddress }, log, { program: deps.programs.smbd, signal: ctx.signal });
    return {
      name: 'network',
      spec: { mode: 'tap', ifname: plan.tap, mac, model: plan.model, vhost: plan.vhost },
      guestAddress: plan.guestAddress,
      readiness: { host: plan.guestAddress, port: config.readyPort },
      plan,
      died: smbd ? Promise.race([dnsmasq.died, smbd.died]) : dnsmasq.died,
      close: teardown,
    };
  } catch (error) {
    await teardown();
    if (error instanceof AppError) throw error;
    throw new AppError('host', `could not build the guest network (NETWORK=tap): ${errorMessage(error)}`, {
      hint: 'NETWORK=tap needs NET_ADMIN and /dev/net/tun (docker run --cap-add NET_ADMIN --device /dev/net/tun), or set NETWORK=user.',
      cause: error,
    });
  } finally {
    links.close();
  }
}

/** Everything a tap run creates, removed whether or not this process created it. Never throws. */
async function removeTapNetwork(deps: NetworkDeps, log: Logger): Promise<void> {
  try {
    await deps.firewall(deps.run).removeAll();
  } catch (error) {
    log.warn({ err: error }, 'could not remove the windock iptables rules');
  }
  let links: LinkOps | undefined;
  try {
    links = deps.openLinks(deps.run);
    for (const name of [TAP_NAME, BRIDGE_NAME]) await links.deleteLink(name);
  } catch (error) {
    log.warn({ err: error }, 'could not remove the windock bridge and tap');
  } finally {
    links?.close();
  }
}

/**
 * A run after a crash (kill -9) finds the previous run's rules, links and dnsmasq still there.
 * There are no pid files: a stale dnsmasq is recognized by its argv (our bridge and lease file)
 * and by living in this network namespace (another container's dnsmasq has the same argv).
 */
async function removeTapLeftovers(deps: NetworkDeps, runDir: string, log: Logger): Promise<void> {
  for (const pid of await findStaleDnsmasq(deps.procDir, runDir)) {
    log.warn({ pid }, 'stopping the dnsmasq a previous run left');
    await deps.run('kill', ['-KILL', String(pid)]);
  }
  await removeTapNetwork(deps, log);
  await rm(join(runDir, 'dnsmasq.leases'), { force: true }).catch(() => undefined);
}

export async function findStaleDnsmasq(procDir: string, runDir: string): Promise<number[]> {
  const ownNet = await readlink(join(procDir, 'self', 'ns', 'net')).catch(() => undefined);
  const found: number[] = [];
  for (const entry of await readdir(procDir).catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(join(procDir, entry, 'cmdline'), 'utf8')).split('\0');
      if (!argv[0]?.endsWith('dnsmasq')) continue;
      if (!argv.includes(`--interface=${BRIDGE_NAME}`) || !argv.includes(`--dhcp-leasefile=${join(runDir, 'dnsmasq.leases')}`)) continue;
      const net = await readlink(join(procDir, entry, 'ns', 'net'));
      if (ownNet !== undefined && net === ownNet) found.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// NETWORK=user

export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
}

/**
 * 3389 tcp+udp plus USER_PORTS, one forward per port and protocol, without duplicates. A clash
 * with WEB_PORT was refused when the settings were resolved (config/cross-check.ts).
 */
export function userForwards(config: Pick<Config, 'userPorts'>): PortForward[] {
  const rules: PortRule[] = [{ from: RDP_PORT, to: RDP_PORT, protocol: 'both' }, ...config.userPorts];
  const seen = new Set<string>();
  const forwards: PortForward[] = [];
  for (const rule of rules) {
    for (let port = rule.from; port <= rule.to; port++) {
      for (const protocol of rule.protocol === 'both' ? (['tcp', 'udp'] as const) : [rule.protocol]) {
        const key = `${protocol}/${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        forwards.push({ protocol, hostPort: port, guestPort: port });
      }
    }
  }
  return forwards;
}

/** passt's `-t`/`-u` port specs ("3389,5900"): same port on both sides. */
export function buildPasstArgs(socket: string, forwards: PortForward[], runAs?: string): string[] {
  const ports = (protocol: 'tcp' | 'udp') => forwards.filter((f) => f.protocol === protocol).map((f) => String(f.hostPort));
  const tcp = ports('tcp');
  const udp = ports('udp');
  return [
    '--foreground',
    '--stderr',
    ...(runAs ? ['--runas', runAs] : []),
    '--socket',
    socket,
    ...(tcp.length ? ['-t', tcp.join(',')] : ['-t', 'none']),
    ...(udp.length ? ['-u', udp.join(',')] : ['-u', 'none']),
  ];
}

/** passt logs "UNIX domain socket bound at <path>" once QEMU may connect (passt tap.c). */
const PASST_READY = /UNIX domain socket bound at/;

async function startUserNetwork(ctx: RunContext, host: HostFacts, deps: NetworkDeps, log: Logger): Promise<NetworkSession> {
  const { config } = ctx;
  const forwards = userForwards(config);
  const mac = await resolveGuestMac(ctx, deps.random);
  const readiness = { host: '127.0.0.1', port: config.readyPort };

  // passt has no SMB server of its own; slirp's `smb=` offers the shared folder.
  const share = await findShare(config);
  const passtVerdict = host.programs.passt && !share ? judgePasstVersion((await readPasstVersion(deps)) ?? '') : undefined;
  if (passtVerdict && !passtVerdict.usable) log.warn({ reason: passtVerdict.reason }, 'not using passt');
  if (passtVerdict?.usable && (await qemuHasNetdevStream(deps))) {
    // passt started as root switches to `nobody` before it binds its socket (passt(1), --runas),
    // and nobody may not traverse a private RUN_DIR (0700). Keeping uid 0 costs little: passt
    // still drops every capability and confines itself (namespaces, seccomp) after start-up.
    await mkdir(config.runDir, { recursive: true, mode: 0o700 });
    const socket = join(config.runDir, 'passt.sock');
    await rm(socket, { force: true });
    const runAs = userInfo().uid === 0 ? '0:0' : undefined;
    const passt = startHelper({ name: 'passt', argv: [deps.programs.passt, ...buildPasstArgs(socket, forwards, runAs)], log });
    try {
      await passt.waitForLine(PASST_READY, { timeoutMs: 10_000, signal: ctx.signal });
      // passt prints its "bound" line around the bind(2); the socket file is what QEMU needs.
      await passt.waitForPath(socket, { timeoutMs: 5_000, signal: ctx.signal, socket: true });
      const uplinkAddress = await containerAddress(deps);
      log.info({ socket, forwards: forwards.length }, 'user networking through passt');
      return {
        name: 'network',
        spec: { mode: 'passt', mac, model: NIC_MODEL, socket },
        // passt gives the guest the container's own address (passt(1), "--address" default).
        guestAddress: uplinkAddress,
        readiness: { ...readiness, expectReply: true },
        died: passt.died,
        close: async () => {
          await passt.stop();
          await rm(socket, { force: true });
        },
      };
    } catch (error) {
      await passt.stop(1_000);
      // A stop request is not a passt failure: it ends the start, not in a fallback.
      if (ctx.signal.aborted) throw error;
      log.warn({ err: error, output: passt.recentOutput() }, 'passt did not start, falling back to QEMU user networking');
    }
  }
  const slirp = chooseSlirpNet(deps.ipv4Networks());
  if (slirp.reason) log.warn({ net: slirp.net, reason: slirp.reason }, 'QEMU slirp uses another guest network');
  log.info({ forwards: forwards.length, share: share?.dir, guest: slirp.guest, ...(share ? { smb: `\\\\${slirp.smb}\\qemu` } : {}) }, 'user networking through QEMU slirp');
  if (share?.readOnly) log.warn({ dir: share.dir }, 'SAMBA_READONLY=Y has no effect with NETWORK=user: QEMU offers its shared folder writable');
  return {
    name: 'network',
    spec: { mode: 'user', mac, model: NIC_MODEL, forwards, smb: share?.dir, ...(slirp.net ? { net: slirp.net } : {}) },
    guestAddress: slirp.guest,
    readiness: { ...readiness, expectReply: true },
    close: async () => {},
  };
}

/**
 * Whether this passt build can carry forwarded connections to a guest. Debian bookworm's passt
 * (0.0~git20230309.7c7625d-1) reports "passt unknown version"; with QEMU 7.2 `-netdev stream` it
 * accepts a forwarded TCP connection and sends the guest its SYN, but never ACKs the guest's
 * SYN-ACK, so no forwarded connection ever completes (seen in a pcap, --pcap; with --debug it
 * crashes in tcp_tap_conn_from_sock). Release builds print a dated version ("passt 2024_06_07.8a83b53")
 * and are used; a build without one falls back to QEMU's slirp, which works with any QEMU.
 */
export function judgePasstVersion(versionOutput: string): { usable: boolean; reason: string } {
  const first = versionOutput.split('\n')[0]?.trim() ?? '';
  if (/^passt\s+\d{4}_\d{2}_\d{2}\b/.test(first)) return { usable: true, reason: first };
  return {
    usable: false,
    reason: `passt reports ${JSON.stringify(first)}, not a dated release: such builds (Debian bookworm's 2023-03 snapshot) never complete a forwarded TCP handshake with the guest; using QEMU's user networking instead`,
  };
}

async function readPasstVersion(deps: NetworkDeps): Promise<string | undefined> {
  try {
    const result = await deps.run(deps.programs.passt, ['--version']);
    return result.exitCode === 0 ? `${result.stdout}${result.stderr}` : undefined;
  } catch {
    return undefined;
  }
}

/** `-netdev stream` arrived in QEMU 7.2; `-netdev help` lists the backends this binary has. */
async function qemuHasNetdevStream(deps: NetworkDeps): Promise<boolean> {
  try {
    const result = await deps.run(deps.programs.qemu, ['-netdev', 'help']);
    return result.exitCode === 0 && /^stream$/m.test(result.stdout);
  } catch {
    return false;
  }
}

async function containerAddress(deps: NetworkDeps): Promise<string | undefined> {
  let links: LinkOps | undefined;
  try {
    links = deps.openLinks(deps.run);
    const inventory = await links.inventory();
    const uplink = findUplink(inventory);
    return inventory.addresses.find((a) => a.dev === uplink)?.address;
  } catch {
    return undefined;
  } finally {
    links?.close();
  }
}
