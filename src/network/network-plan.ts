/**
 * The guest network for NETWORK=tap, decided from data alone: which interface is the container's
 * uplink, which private subnet the guest lives on, its MAC, and the names of the bridge and tap.
 * Pure: the netlink adapter reads the inventory and applies the plan.
 */
import type { Config } from '../config/options.js';
import { AppError } from '../core/errors.js';
import type { NicModel } from '../qemu/vm-spec.js';
import type { HostFacts } from '../host/facts.js';

/** One IPv4 route of the main table. `dst` is CIDR text; the default route is 0.0.0.0/0. */
export interface RouteInfo {
  dst: string;
  dev: string | undefined;
  /** Lower wins among default routes (the kernel's choice). */
  metric: number;
}

export interface AddressInfo {
  dev: string;
  address: string;
  prefixLength: number;
}

export interface LinkInfo {
  name: string;
  index: number;
  /** rtnetlink IFLA_INFO_KIND: "bridge", "tun", "veth", ...; undefined for physical/loopback. */
  kind: string | undefined;
  master: number | undefined;
  mtu: number | undefined;
}

export interface NetworkInventory {
  routes: RouteInfo[];
  addresses: AddressInfo[];
  links: LinkInfo[];
}

export interface NetworkPlan {
  /** The interface carrying the default route: where Docker's published ports arrive. */
  uplink: string;
  /** The container's own IPv4 address on the uplink (DNAT matches traffic addressed to it). */
  uplinkAddress: string | undefined;
  bridge: string;
  tap: string;
  /** The guest subnet, e.g. { network: "172.30.0.0", prefixLength: 24 }. */
  subnet: { network: string; prefixLength: number };
  /** The bridge's address: the guest's router and DNS server. */
  bridgeAddress: string;
  /** The guest's fixed DHCP lease. */
  guestAddress: string;
  mac: string;
  model: NicModel;
  vhost: boolean;
}

/**
 * Fixed names: every container has its own network namespace, so two containers never see each
 * other's links. Linux allows 15 characters (IFNAMSIZ - 1).
 */
export const BRIDGE_NAME = 'windock0';
export const TAP_NAME = 'windock-tap0';

/**
 * Candidate guest subnets, tried in order: 172.30.0.0/24 .. 172.30.255.0/24, then
 * 10.213.0.0/24 .. 10.213.255.0/24 (all RFC 1918 private space). Docker's default pools hand out
 * 172.17-172.31/16 networks, so a container attached to 172.30.0.0/16 skips that family entirely.
 */
export function* candidateSubnets(): Generator<{ network: string; prefixLength: number }> {
  for (const prefix of ['172.30', '10.213']) {
    for (let third = 0; third < 256; third++) yield { network: `${prefix}.${third}.0`, prefixLength: 24 };
  }
}

export function planNetwork(
  config: Pick<Config, 'network'>,
  facts: Pick<HostFacts, 'vhostNet'>,
  inventory: NetworkInventory,
  mac: string,
): NetworkPlan {
  if (config.network !== 'tap') {
    throw new AppError('internal', `planNetwork is for NETWORK=tap, got NETWORK=${config.network}`);
  }
  const uplink = findUplink(inventory);
  const uplinkAddress = inventory.addresses.find((a) => a.dev === uplink)?.address;
  const subnet = chooseSubnet(inventory, [BRIDGE_NAME, TAP_NAME]);
  const base = parseIpv4(subnet.network);
  return {
    uplink,
    uplinkAddress,
    bridge: BRIDGE_NAME,
    tap: TAP_NAME,
    subnet,
    bridgeAddress: formatIpv4(base + 1),
    guestAddress: formatIpv4(base + 2),
    mac,
    model: 'virtio-net-pci',
    vhost: facts.vhostNet,
  };
}

/** The default route's interface (lowest metric); without one, the only addressed non-loopback link. */
export function findUplink(inventory: NetworkInventory): string {
  const defaults = inventory.routes
    .filter((r) => r.dst === '0.0.0.0/0' && r.dev !== undefined)
    .sort((a, b) => a.metric - b.metric);
  const viaDefault = defaults[0]?.dev;
  if (viaDefault) return viaDefault;
  const addressed = [...new Set(inventory.addresses.map((a) => a.dev))].filter(
    (dev) => dev !== 'lo' && dev !== BRIDGE_NAME && dev !== TAP_NAME,
  );
  if (addressed.length === 1) return addressed[0]!;
  throw new AppError('host', `the container has no default route and ${addressed.length} addressed interfaces, so its uplink is unknown`, {
    hint: 'Attach the container to a Docker network (the default bridge network gives it a default route), or set NETWORK=user.',
    details: { routes: inventory.routes, addresses: inventory.addresses },
  });
}

/** The first candidate that overlaps no route and no address (links in `ignore` are ours from before). */
export function chooseSubnet(
  inventory: Pick<NetworkInventory, 'routes' | 'addresses'>,
  ignore: string[] = [],
): { network: string; prefixLength: number } {
  const taken = [
    ...inventory.routes.filter((r) => r.dst !== '0.0.0.0/0' && !ignore.includes(r.dev ?? '')).map((r) => parseCidr(r.dst)),
    ...inventory.addresses.filter((a) => !ignore.includes(a.dev)).map((a) => ({ base: parseIpv4(a.address), prefixLength: a.prefixLength })),
  ];
  for (const candidate of candidateSubnets()) {
    const c = { base: parseIpv4(candidate.network), prefixLength: candidate.prefixLength };
    if (!taken.some((t) => overlaps(c, t))) return candidate;
  }
  throw new AppError('host', 'no free private subnet for the guest: every 172.30.x.0/24 and 10.213.x.0/24 overlaps a route', {
    hint: 'Use fewer or narrower networks on the container, or set NETWORK=user.',
  });
}

interface Cidr {
  base: number;
  prefixLength: number;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  // Two prefixes overlap when they agree on the bits of the shorter one.
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  const mask = shorter === 0 ? 0 : (~0 << (32 - shorter)) >>> 0;
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0);
}

export function parseCidr(text: string): Cidr {
  const [address, length] = text.split('/');
  return { base: parseIpv4(address ?? ''), prefixLength: length === undefined ? 32 : Number(length) };
}

export function parseIpv4(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new AppError('internal', `not an IPv4 address: ${JSON.stringify(text)}`);
  }
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function netmaskOf(prefixLength: number): string {
  return formatIpv4(prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0);
}

/**
 * The guest's MAC: the MAC setting wins; else the one persisted in windock.json; else a new one.
 * New ones are locally administered unicast (first octet 0x02: IEEE 802 U/L bit set, I/G bit
 * clear) from random bytes, so that clones of one image each get their own.
 */
export function chooseMac(configured: string | undefined, persisted: string | undefined, random: Uint8Array): string {
  if (configured) return configured;
  if (persisted) return persisted;
  if (random.length < 5) throw new AppError('internal', 'chooseMac needs 5 random bytes');
  return ['02', ...Array.from(random.subarray(0, 5), (b) => b.toString(16).padStart(2, '0'))].join(':');
}
