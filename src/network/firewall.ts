/**
 * iptables rules that make the guest reachable through the container like a published port:
 *
 * - nat WINDOCK-PREROUTING (jumped to from PREROUTING for traffic arriving on the uplink for the
 *   container's address): RETURN for the container's own ports (WEB_PORT, HOST_PORTS), then DNAT
 *   of every other TCP and UDP port to the guest. PREROUTING never sees locally generated packets
 *   (they traverse nat OUTPUT), so the container's loopback traffic stays with the container, and
 *   nat rules only see the first packet of a connection, so replies to the container's own
 *   outbound connections (downloads, DNS) are never redirected.
 * - nat WINDOCK-POSTROUTING: MASQUERADE of the guest's own traffic leaving the guest subnet, so
 *   that it reaches the outside with the container's address.
 * - filter WINDOCK-FORWARD: ACCEPT to and from the bridge, in case the container's FORWARD policy
 *   is DROP.
 * - mangle WINDOCK-FORWARD: TCP MSS clamping to the path MTU on SYNs, so that a guest whose MTU
 *   exceeds a smaller uplink MTU (overlay networks, VPNs) does not stall on large segments
 *   (iptables-extensions(8), TCPMSS).
 *
 * Every rule windock adds carries the comment `windock:<id>`; the chains are our own, so cleanup
 * is: delete the tagged jump rules from the built-in chains, flush and delete our chains.
 */
import type { PortRule } from '../config/parsers.js';
import type { NetworkPlan } from './network-plan.js';
import type { RunProgram } from '../host/probe.js';

export type Table = 'nat' | 'filter' | 'mangle';

export interface FirewallRule {
  table: Table;
  chain: string;
  /** The rule's match and target, as after `-A <chain>` (argv words, never a shell string). */
  spec: string[];
}

export interface FirewallPlan {
  /** Our own chains, created before the rules. */
  chains: { table: Table; chain: string }[];
  rules: FirewallRule[];
}

export const TAG_PREFIX = 'windock:';
export const OWN_CHAIN_PREFIX = 'WINDOCK-';

/** Built-in chains where a crashed run may have left tagged jump rules. */
export const BUILTIN_CHAINS: Record<Table, string[]> = {
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
};

export interface FirewallInput {
  plan: Pick<NetworkPlan, 'uplink' | 'uplinkAddress' | 'bridge' | 'subnet' | 'guestAddress'>;
  webPort: number;
  hostPorts: PortRule[];
  /** Tag id: rules carry the comment `windock:<id>`. */
  id: string;
}

export function buildFirewallRules(input: FirewallInput): FirewallPlan {
  const { plan } = input;
  const tag = ['-m', 'comment', '--comment', `${TAG_PREFIX}${input.id}`];
  const subnet = `${plan.subnet.network}/${plan.subnet.prefixLength}`;
  const pre = `${OWN_CHAIN_PREFIX}PREROUTING`;
  const post = `${OWN_CHAIN_PREFIX}POSTROUTING`;
  const fwd = `${OWN_CHAIN_PREFIX}FORWARD`;

  const own: PortRule[] = [{ from: input.webPort, to: input.webPort, protocol: 'both' }, ...input.hostPorts];
  const returns: FirewallRule[] = [];
  for (const rule of own) {
    for (const protocol of rule.protocol === 'both' ? (['tcp', 'udp'] as const) : [rule.protocol]) {
      const dport = rule.from === rule.to ? String(rule.from) : `${rule.from}:${rule.to}`;
      returns.push({ table: 'nat', chain: pre, spec: ['-p', protocol, '--dport', dport, ...tag, '-j', 'RETURN'] });
    }
  }
  const destination = plan.uplinkAddress ? ['-d', `${plan.uplinkAddress}/32`] : [];

  return {
    chains: [
      { table: 'nat', chain: pre },
      { table: 'nat', chain: post },
      { table: 'filter', chain: fwd },
      { table: 'mangle', chain: fwd },
    ],
    rules: [
      ...returns,
      ...(['tcp', 'udp'] as const).map<FirewallRule>((protocol) => ({
        table: 'nat',
        chain: pre,
        spec: ['-p', protocol, ...tag, '-j', 'DNAT', '--to-destination', plan.guestAddress],
      })),
      { table: 'nat', chain: post, spec: ['-s', subnet, '!', '-d', subnet, ...tag, '-j', 'MASQUERADE'] },
      { table: 'filter', chain: fwd, spec: ['-i', plan.bridge, ...tag, '-j', 'ACCEPT'] },
      { table: 'filter', chain: fwd, spec: ['-o', plan.bridge, ...tag, '-j', 'ACCEPT'] },
      {
        table: 'mangle',
        chain: fwd,
        spec: ['-p', 'tcp', '--tcp-flags', 'SYN,RST', 'SYN', ...tag, '-j', 'TCPMSS', '--clamp-mss-to-pmtu'],
      },
      // Jumps from the built-in chains come last: our chains are complete before traffic enters them.
      { table: 'nat', chain: 'PREROUTING', spec: ['-i', plan.uplink, ...destination, ...tag, '-j', pre] },
      { table: 'nat', chain: 'POSTROUTING', spec: [...tag, '-j', post] },
      { table: 'filter', chain: 'FORWARD', spec: [...tag, '-j', fwd] },
      { table: 'mangle', chain: 'FORWARD', spec: [...tag, '-j', fwd] },
    ],
  };
}

/** `iptables -w -t <table> <op> <chain> <spec…>`; `-w` waits for the xtables lock instead of failing. */
export function ruleArgv(op: '-A' | '-C' | '-D', rule: FirewallRule): string[] {
  return ['-w', '-t', rule.table, op, rule.chain, ...rule.spec];
}

/**
 * Splits one `iptables -S` line into argv words. iptables quotes a word only when it holds spaces
 * or quotes (xtables_save_string); our tags never do, but others' rules may.
 */
export function splitSaveLine(line: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!);
  }
  return words;
}

/** From `iptables -S <chain>` output: the tagged rules as `-D` argv (minus `-w -t`). */
export function taggedRulesToDelete(saveOutput: string): string[][] {
  return saveOutput
    .split('\n')
    .filter((line) => line.startsWith('-A ') && line.includes(TAG_PREFIX))
    .map((line) => {
      const words = splitSaveLine(line);
      return ['-D', ...words.slice(1)];
    });
}

/** From `iptables -S` output of a table: our own chains (`-N WINDOCK-…`). */
export function ownChains(saveOutput: string): string[] {
  return saveOutput
    .split('\n')
    .filter((line) => line.startsWith(`-N ${OWN_CHAIN_PREFIX}`))
    .map((line) => line.slice(3).trim());
}

export interface Firewall {
  apply(plan: FirewallPlan): Promise<void>;
  /** Removes every tagged rule and every WINDOCK- chain in all tables. Idempotent. */
  removeAll(): Promise<void>;
}

export class IptablesError extends Error {
  override readonly name = 'IptablesError';
  constructor(
    readonly argv: string[],
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(`iptables ${argv.join(' ')} exited ${exitCode}: ${stderr.trim()}`);
  }
}

export function iptablesFirewall(run: RunProgram, program = 'iptables'): Firewall {
  const exec = async (argv: string[]) => {
    const result = await run(program, argv);
    if (result.exitCode !== 0) throw new IptablesError(argv, result.exitCode, result.stderr);
    return result.stdout;
  };
  const succeeds = async (argv: string[]) => (await run(program, argv)).exitCode === 0;

  return {
    async apply(plan) {
      for (const { table, chain } of plan.chains) {
        // -N fails when the chain exists: flush it instead (a leftover we did not get to delete).
        if (!(await succeeds(['-w', '-t', table, '-N', chain]))) await exec(['-w', '-t', table, '-F', chain]);
      }
      for (const rule of plan.rules) {
        if (await succeeds(ruleArgv('-C', rule))) continue;
        await exec(ruleArgv('-A', rule));
      }
    },

    async removeAll() {
      for (const table of Object.keys(BUILTIN_CHAINS) as Table[]) {
        for (const chain of BUILTIN_CHAINS[table]) {
          const listing = await run(program, ['-w', '-t', table, '-S', chain]);
          if (listing.exitCode !== 0) continue; // table or chain unsupported here
          for (const argv of taggedRulesToDelete(listing.stdout)) {
            await run(program, ['-w', '-t', table, ...argv]);
          }
        }
        const tableListing = await run(program, ['-w', '-t', table, '-S']);
        if (tableListing.exitCode !== 0) continue;
        const chains = ownChains(tableListing.stdout);
        // Flush all first: one of our chains may jump to another.
        for (const chain of chains) await run(program, ['-w', '-t', table, '-F', chain]);
        for (const chain of chains) await run(program, ['-w', '-t', table, '-X', chain]);
      }
    },
  };
}
