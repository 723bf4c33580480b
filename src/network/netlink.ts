/**
 * Links, addresses and routes through rtnetlink (the `netlink` package), plus the one thing
 * rtnetlink cannot do: create a tap.
 *
 * Why the tap is created with `ip tuntap add` and not by rtnetlink or by QEMU:
 * - the kernel refuses RTM_NEWLINK for kind "tun" ("tun/tap creation via rtnetlink is not
 *   supported", drivers/net/tun.c tun_validate); a tap is made with the TUNSETIFF and
 *   TUNSETPERSIST ioctls on /dev/net/tun, which Node cannot issue without native code, and
 *   iproute2's `ip tuntap add` is exactly those ioctls behind an argv;
 * - letting QEMU create it (`-netdev tap,ifname=…`) would leave the tap outside the bridge until
 *   QEMU runs, racing the guest's first DHCP request; a persistent tap made beforehand is already
 *   a bridge port when QEMU attaches to it by name (TUNSETIFF on an existing persistent tap adopts
 *   it and takes QEMU's IFF_VNET_HDR flag, drivers/net/tun.c tun_set_iff).
 * A persistent tap outlives a crashed QEMU; the next run's cleanup deletes it by name.
 */
import { createRequire } from 'node:module';
import type { RtNetlinkSocket } from 'netlink';
import { AppError } from '../core/errors.js';
import type { AddressInfo, LinkInfo, NetworkInventory, RouteInfo } from './network-plan.js';
import { formatIpv4, parseIpv4 } from './network-plan.js';
import type { RunProgram } from '../host/probe.js';

/** linux/netlink.h request flags. */
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const AF_INET = 2;
/** RT_TABLE_MAIN, linux/rtnetlink.h */
const RT_TABLE_MAIN = 254;

export interface LinkOps {
  inventory(): Promise<NetworkInventory>;
  createBridge(name: string): Promise<void>;
  createTap(name: string): Promise<void>;
  addAddress(link: string, address: string, prefixLength: number): Promise<void>;
  setMaster(link: string, master: string): Promise<void>;
  setUp(link: string): Promise<void>;
  /** Deletes the link when it exists; true when something was deleted. */
  deleteLink(name: string): Promise<boolean>;
  close(): void;
}

/**
 * The netlink package (a native addon) is loaded on first use, not at import: only NETWORK=tap
 * needs it, and its load is a noticeable part of the start-up time QEMU waits on.
 */
function loadNetlink(): typeof import('netlink') {
  return createRequire(import.meta.url)('netlink') as typeof import('netlink');
}

export function openLinkOps(run: RunProgram): LinkOps {
  const { AttrStream, createRtNetlink, ifla } = loadNetlink();
  const socket: RtNetlinkSocket = createRtNetlink();

  const indexOf = async (name: string): Promise<number | undefined> => {
    const links = await socket.getLinks();
    return links.find((l) => l.attrs.ifname === name)?.data.index;
  };
  const requireIndex = async (name: string): Promise<number> => {
    const index = await indexOf(name);
    if (index === undefined) throw new AppError('internal', `network link ${name} does not exist`);
    return index;
  };

  return {
    async inventory() {
      // One dump at a time: the package matches replies to requests by sequence number, but the
      // kernel allows only one dump in flight per socket (concurrent dumps fail with
      // "Multipart message not terminated properly").
      const links = await socket.getLinks();
      const addresses = await socket.getAddresses();
      const routes = await socket.getRoutes({ family: AF_INET });
      const names = new Map<number, string>();
      const linkInfos: LinkInfo[] = links.map((l) => {
        const index = l.data.index ?? 0;
        const name = l.attrs.ifname ?? `if${index}`;
        names.set(index, name);
        return {
          name,
          index,
          kind: l.attrs.linkinfo ? ifla.parseInfo(l.attrs.linkinfo).kind : undefined,
          master: l.attrs.master,
          mtu: l.attrs.mtu,
        };
      });
      const addressInfos: AddressInfo[] = addresses
        .filter((a) => a.data.family === AF_INET && (a.attrs.local ?? a.attrs.address))
        .map((a) => ({
          dev: names.get(a.data.index ?? -1) ?? `if${a.data.index}`,
          address: bufferToIpv4((a.attrs.local ?? a.attrs.address)!),
          prefixLength: a.data.prefixlen ?? 32,
        }));
      const routeInfos: RouteInfo[] = routes
        .filter((r) => (r.attrs.table ?? r.data.table) === RT_TABLE_MAIN && r.data.family === AF_INET)
        .filter((r) => r.data.type === undefined || r.data.type === 'UNICAST' || (r.data.type as unknown) === 1)
        .map((r) => ({
          dst: `${r.attrs.dst ? bufferToIpv4(r.attrs.dst) : '0.0.0.0'}/${r.data.dstLen ?? 0}`,
          dev: r.attrs.oif === undefined ? undefined : names.get(r.attrs.oif),
          metric: r.attrs.priority ?? 0,
        }));
      return { links: linkInfos, addresses: addressInfos, routes: routeInfos };
    },

    async createBridge(name) {
      const info = new AttrStream();
      info.emit(ifla.formatInfo({ kind: 'bridge' }));
      await socket.newLink({}, { ifname: name, linkinfo: Buffer.concat(info.bufs) }, { flags: NLM_F_CREATE | NLM_F_EXCL });
    },

    async createTap(name) {
      const result = await run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
      if (result.exitCode !== 0) {
        throw new AppError('host', `could not create the tap ${name}: ip tuntap add exited ${result.exitCode}: ${result.stderr.trim()}`, {
          hint: 'NETWORK=tap needs /dev/net/tun and NET_ADMIN (docker run --device /dev/net/tun --cap-add NET_ADMIN), or set NETWORK=user.',
        });
      }
    },

    async addAddress(link, address, prefixLength) {
      const index = await requireIndex(link);
      const bytes = ipv4ToBuffer(address);
      const broadcast = ipv4ToBuffer(formatIpv4((parseIpv4(address) | (2 ** (32 - prefixLength) - 1)) >>> 0));
      await socket.newAddress(
        { family: AF_INET, prefixlen: prefixLength, index },
        { local: bytes, address: bytes, broadcast },
        { flags: NLM_F_CREATE | NLM_F_EXCL },
      );
    },

    async setMaster(link, master) {
      const index = await requireIndex(link);
      const masterIndex = await requireIndex(master);
      await socket.setLink({ index }, { master: masterIndex });
    },

    async setUp(link) {
      const index = await requireIndex(link);
      await socket.setLink({ index, flags: { up: true }, change: { up: true } });
    },

    async deleteLink(name) {
      const index = await indexOf(name);
      if (index === undefined) return false;
      try {
        await socket.delLink({ index });
      } catch (error) {
        // Gone in between (ENODEV) is what we wanted.
        if (await indexOf(name)) throw error;
      }
      return true;
    },

    close() {
      socket.socket.close();
    },
  };
}

export function bufferToIpv4(buffer: Uint8Array): string {
  return Array.from(buffer.subarray(0, 4)).join('.');
}

export function ipv4ToBuffer(address: string): Buffer {
  const value = parseIpv4(address);
  return Buffer.from([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);
}
