/**
 * The guest network of QEMU's user-mode stack (slirp), chosen so that it does not overlap any
 * network the container is on.
 *
 * Why: a connection that reaches a slirp host forward keeps its source address for the guest
 * (libslirp's hostfwd). When that source lies inside slirp's own network, the guest takes the
 * peer for a neighbour, answers by ARP instead of through slirp's gateway, and the answer is
 * lost. Rootless Podman hits exactly this: slirp4netns gives the container 10.0.2.100/24, QEMU's
 * default guest network is 10.0.2.0/24, and every published port times out (seen with Podman
 * 4.3; test/e2e/podman.test.ts). QEMU places everything relative to `net=` (host at .2, DNS at
 * .3, the SMB server at .4, DHCP from .15: QEMU's "-netdev user" documentation), so moving the
 * network moves them all.
 *
 * Pure: the container's IPv4 networks in, the network out.
 */

export interface SlirpNet {
  /** `net=` for QEMU; undefined keeps QEMU's default (10.0.2.0/24). */
  net: string | undefined;
  /** The first DHCP address, where the guest lands. */
  guest: string;
  /** Where QEMU's own SMB server answers (`smb=`): \\<smb>\qemu. */
  smb: string;
  /** Why the default was not used, for the log. */
  reason?: string;
}

export interface Ipv4Network {
  address: string;
  prefixLength: number;
}

/** 10.0.2.0/24 first (QEMU's default), then its neighbours, then a /24 far from usual LANs. */
const CANDIDATES = ['10.0.2.0', '10.0.3.0', '10.0.4.0', '10.0.5.0', '10.0.6.0', '10.0.7.0', '10.0.8.0', '10.0.9.0', '172.31.254.0', '192.168.254.0'];

export function chooseSlirpNet(networks: readonly Ipv4Network[]): SlirpNet {
  const inUse = networks.filter((n) => !n.address.startsWith('127.'));
  const free = CANDIDATES.find((base) => !inUse.some((n) => overlaps(toNumber(base), 24, toNumber(n.address), n.prefixLength)));
  // Every candidate taken (a container on 10.0.0.0/8 and both private /24s): QEMU's default,
  // which at worst fails as it always did.
  const base = free ?? CANDIDATES[0]!;
  const prefix = base.slice(0, base.lastIndexOf('.') + 1);
  const clash = inUse.find((n) => overlaps(toNumber(CANDIDATES[0]!), 24, toNumber(n.address), n.prefixLength));
  return {
    net: base === CANDIDATES[0] ? undefined : `${base}/24`,
    guest: `${prefix}15`,
    smb: `${prefix}4`,
    ...(clash && free ? { reason: `the container is on ${clash.address}/${clash.prefixLength}, inside QEMU's default 10.0.2.0/24: forwarded connections from there would never get an answer` } : {}),
  };
}

function overlaps(a: number, aPrefix: number, b: number, bPrefix: number): boolean {
  const prefix = Math.min(aPrefix, bPrefix);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function toNumber(address: string): number {
  return address.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0);
}
