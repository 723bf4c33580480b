/**
 * DHCP and DNS for the guest: dnsmasq (Debian dnsmasq-base) in the foreground as a direct child,
 * bound to the bridge only, handing out exactly one fixed lease (the guest's MAC → the guest's
 * address) with the bridge as router and DNS server, forwarding DNS to the container's own
 * resolvers. Options from dnsmasq(8).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import { startHelper, type Helper } from '../process/helper.js';
import { netmaskOf, type NetworkPlan } from './network-plan.js';

export interface DnsmasqInput {
  plan: Pick<NetworkPlan, 'bridge' | 'bridgeAddress' | 'guestAddress' | 'mac' | 'subnet'>;
  runDir: string;
  /** Upstream DNS servers (from the container's resolv.conf). */
  upstream: string[];
  debug: boolean;
}

export function dnsmasqLeaseFile(runDir: string): string {
  return join(runDir, 'dnsmasq.leases');
}

export function buildDnsmasqArgs(input: DnsmasqInput): string[] {
  const { plan } = input;
  return [
    // Foreground, as our child; logs to stderr ("-" = stderr), which we read line by line.
    '--keep-in-foreground',
    '--log-facility=-',
    // No /etc/dnsmasq.conf, no /etc/hosts, no /etc/resolv.conf polling: everything is on this argv.
    '--conf-file=/dev/null',
    '--no-hosts',
    '--no-resolv',
    // --pid-file without a value: no pid file (dnsmasq(8) -x; the default would be /run/dnsmasq.pid).
    '--pid-file',
    // Listen only on the bridge: never answer DHCP or DNS on the container's uplink.
    '--bind-interfaces',
    `--interface=${plan.bridge}`,
    '--except-interface=lo',
    // "static": leases only for --dhcp-host entries, so nothing but the guest's MAC gets an address.
    `--dhcp-range=${plan.guestAddress},static,${netmaskOf(plan.subnet.prefixLength)},12h`,
    `--dhcp-host=${plan.mac},${plan.guestAddress}`,
    `--dhcp-option=option:router,${plan.bridgeAddress}`,
    `--dhcp-option=option:dns-server,${plan.bridgeAddress}`,
    // The shared folder's host name (samba.ts): \\host.lan\Data is the bridge, where smbd listens.
    `--host-record=host.lan,${plan.bridgeAddress}`,
    // Answer a guest that asks for an address from another subnet (a restored VM) with NAK at once.
    '--dhcp-authoritative',
    `--dhcp-leasefile=${dnsmasqLeaseFile(input.runDir)}`,
    ...input.upstream.map((server) => `--server=${server}`),
    ...(input.debug ? ['--log-dhcp'] : []),
  ];
}

/** `nameserver` lines of resolv.conf(5), skipping any that would point back at the bridge. */
export function parseResolvConf(text: string, exclude: string[] = []): string[] {
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (match && !exclude.includes(match[1]!) && !servers.includes(match[1]!)) servers.push(match[1]!);
  }
  return servers;
}

export async function readUpstreamDns(resolvConf: string, exclude: string[]): Promise<string[]> {
  try {
    return parseResolvConf(await readFile(resolvConf, 'utf8'), exclude);
  } catch {
    return [];
  }
}

/** dnsmasq prints "started, version …" once it bound its sockets (dnsmasq.c, main()). */
export const DNSMASQ_READY = /started, version/;

export async function startDnsmasq(
  input: DnsmasqInput,
  log: Logger,
  options: { program?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Helper> {
  const helper = startHelper({ name: 'dnsmasq', argv: [options.program ?? 'dnsmasq', ...buildDnsmasqArgs(input)], log });
  try {
    await helper.waitForLine(DNSMASQ_READY, { timeoutMs: options.timeoutMs ?? 10_000, signal: options.signal });
  } catch (error) {
    await helper.stop(1_000);
    throw error;
  }
  return helper;
}
