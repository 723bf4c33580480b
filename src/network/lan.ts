/**
 * LAN mode (DHCP=Y, dockur's name): the guest sits on the container's own network as a machine of
 * its own, with an address from that network's DHCP server. As dockur/qemus do (network.sh,
 * configureDHCP): a macvtap in bridge mode on the uplink carries the guest's MAC, QEMU gets its
 * character device (/dev/tapN, macvtap(4)) as an open file descriptor (`-netdev tap,fd=N`), and
 * there is no bridge, dnsmasq or NAT of windock's own.
 *
 * The device node is made in RUN_DIR (mknod from /sys/class/net/NAME/macvtap/tapN/dev): a
 * container's /dev has no node for a link created after it started, and a private path never
 * collides with another container's.
 *
 * A known limit of macvlan/macvtap: the container (and the Docker host on the same parent) cannot
 * reach the guest, because the kernel does not pass frames between the parent and its macvtap
 * children; other machines on the LAN can. So windock has no guest address to probe for
 * /health/ready in this mode.
 */
import { constants } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunContext } from '../supervisor/context.js';
import { AppError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { RunProgram } from '../host/probe.js';
import type { NicModel } from '../qemu/vm-spec.js';
import type { LinkOps } from './netlink.js';
import type { NetworkSession } from './network.js';
import { findUplink } from './network-plan.js';

export const LAN_LINK = 'windock-lan0';
/** The fd QEMU finds the macvtap on: the first one after stdin, stdout and stderr. */
export const LAN_QEMU_FD = 3;

export interface LanDeps {
  run: RunProgram;
  sysDir: string;
  openLinks(run: RunProgram): LinkOps;
}

export interface LanSession {
  uplink: string;
  /** Open on the macvtap's character device; QEMU inherits it as LAN_QEMU_FD. */
  fd: number;
  close(): Promise<void>;
}

/** "major:minor" of /sys/class/net/NAME/macvtap/tapN/dev. */
export function parseDeviceNumbers(text: string): { major: number; minor: number } | undefined {
  const match = /^(\d+):(\d+)\s*$/.exec(text);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

async function ip(deps: LanDeps, args: string[]): Promise<void> {
  const result = await deps.run('ip', args);
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim()}`);
}

/** Removes the macvtap a previous run left (a kill -9). Never throws. */
export async function removeLanLink(deps: LanDeps): Promise<void> {
  await deps.run('ip', ['link', 'del', LAN_LINK]).catch(() => undefined);
}

export async function startLan(ctx: RunContext, deps: LanDeps, mac: string, log: Logger): Promise<LanSession> {
  const { runDir } = ctx.config;
  await removeLanLink(deps);
  const node = join(runDir, `${LAN_LINK}.tap`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  const links = deps.openLinks(deps.run);
  try {
    const uplink = findUplink(await links.inventory());
    if (!uplink) throw new Error('the container has no interface with a default route to put the guest on');
    await ip(deps, ['link', 'add', 'link', uplink, 'name', LAN_LINK, 'address', mac, 'type', 'macvtap', 'mode', 'bridge']);
    await ip(deps, ['link', 'set', LAN_LINK, 'up']);
    const sys = join(deps.sysDir, 'class', 'net', LAN_LINK);
    const index = (await readFile(join(sys, 'ifindex'), 'utf8')).trim();
    const devText = await readFile(join(sys, 'macvtap', `tap${index}`, 'dev'), 'utf8');
    const dev = parseDeviceNumbers(devText);
    if (!dev) throw new Error(`${join(sys, 'macvtap', `tap${index}`, 'dev')} reads ${JSON.stringify(devText)}, not major:minor`);
    await rm(node, { force: true });
    const made = await deps.run('mknod', ['-m', '0600', node, 'c', String(dev.major), String(dev.minor)]);
    if (made.exitCode !== 0) throw new Error(`mknod ${node} c ${dev.major} ${dev.minor} exited ${made.exitCode}: ${made.stderr.trim()}`);
    handle = await open(node, constants.O_RDWR);
    log.info({ uplink, link: LAN_LINK, mac }, 'LAN mode: the guest takes its address from the LAN (macvtap)');
    const opened = handle;
    let closed = false;
    return {
      uplink,
      fd: opened.fd,
      close: async () => {
        if (closed) return;
        closed = true;
        await opened.close().catch(() => undefined);
        await rm(node, { force: true }).catch(() => undefined);
        await removeLanLink(deps);
      },
    };
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(node, { force: true }).catch(() => undefined);
    await removeLanLink(deps);
    throw new AppError('host', `could not put the guest on the LAN (DHCP=Y): ${errorMessage(error)}`, {
      hint: 'DHCP=Y needs NET_ADMIN and CAP_MKNOD (docker run --cap-add NET_ADMIN --device-cgroup-rule="c *:* rwm"), on a network where the container has its own MAC (macvlan, or a bridge on the LAN).',
      cause: error,
    });
  } finally {
    links.close();
  }
}

/** DHCP=Y as a network session: QEMU's NIC on the macvtap's fd; no address windock could probe. */
export async function startLanNetwork(ctx: RunContext, deps: LanDeps, mac: string, model: NicModel, log: Logger): Promise<NetworkSession> {
  const lan = await startLan(ctx, deps, mac, log);
  return {
    name: 'network',
    spec: { mode: 'tap', ifname: LAN_LINK, mac, model, vhost: false, fd: LAN_QEMU_FD },
    guestAddress: undefined,
    readiness: undefined,
    passFds: [lan.fd],
    close: () => lan.close(),
  };
}
