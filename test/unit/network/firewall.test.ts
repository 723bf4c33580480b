import { describe, expect, it } from 'vitest';
import {
  buildFirewallRules,
  ownChains,
  ruleArgv,
  splitSaveLine,
  taggedRulesToDelete,
} from '../../../src/network/firewall.js';

const plan = {
  uplink: 'eth0',
  uplinkAddress: '172.17.0.2',
  bridge: 'windock0',
  subnet: { network: '172.30.0.0', prefixLength: 24 },
  guestAddress: '172.30.0.2',
};

describe('buildFirewallRules', () => {
  it('produces the rule argv lists', () => {
    const rules = buildFirewallRules({
      plan,
      webPort: 8006,
      hostPorts: [
        { from: 22, to: 22, protocol: 'tcp' },
        { from: 5000, to: 5010, protocol: 'both' },
      ],
      id: 'windock0',
    });
    const argv = rules.rules.map((r) => ruleArgv('-A', r).join(' '));
    expect(rules.chains).toEqual([
      { table: 'nat', chain: 'WINDOCK-PREROUTING' },
      { table: 'nat', chain: 'WINDOCK-POSTROUTING' },
      { table: 'filter', chain: 'WINDOCK-FORWARD' },
      { table: 'mangle', chain: 'WINDOCK-FORWARD' },
    ]);
    expect(argv).toEqual([
      '-w -t nat -A WINDOCK-PREROUTING -p tcp --dport 8006 -m comment --comment windock:windock0 -j RETURN',
      '-w -t nat -A WINDOCK-PREROUTING -p udp --dport 8006 -m comment --comment windock:windock0 -j RETURN',
      '-w -t nat -A WINDOCK-PREROUTING -p tcp --dport 22 -m comment --comment windock:windock0 -j RETURN',
      '-w -t nat -A WINDOCK-PREROUTING -p tcp --dport 5000:5010 -m comment --comment windock:windock0 -j RETURN',
      '-w -t nat -A WINDOCK-PREROUTING -p udp --dport 5000:5010 -m comment --comment windock:windock0 -j RETURN',
      '-w -t nat -A WINDOCK-PREROUTING -p tcp -m comment --comment windock:windock0 -j DNAT --to-destination 172.30.0.2',
      '-w -t nat -A WINDOCK-PREROUTING -p udp -m comment --comment windock:windock0 -j DNAT --to-destination 172.30.0.2',
      '-w -t nat -A WINDOCK-POSTROUTING -s 172.30.0.0/24 ! -d 172.30.0.0/24 -m comment --comment windock:windock0 -j MASQUERADE',
      '-w -t filter -A WINDOCK-FORWARD -i windock0 -m comment --comment windock:windock0 -j ACCEPT',
      '-w -t filter -A WINDOCK-FORWARD -o windock0 -m comment --comment windock:windock0 -j ACCEPT',
      '-w -t mangle -A WINDOCK-FORWARD -p tcp --tcp-flags SYN,RST SYN -m comment --comment windock:windock0 -j TCPMSS --clamp-mss-to-pmtu',
      '-w -t nat -A PREROUTING -i eth0 -d 172.17.0.2/32 -m comment --comment windock:windock0 -j WINDOCK-PREROUTING',
      '-w -t nat -A POSTROUTING -m comment --comment windock:windock0 -j WINDOCK-POSTROUTING',
      '-w -t filter -A FORWARD -m comment --comment windock:windock0 -j WINDOCK-FORWARD',
      '-w -t mangle -A FORWARD -m comment --comment windock:windock0 -j WINDOCK-FORWARD',
    ]);
  });

  it('tags every rule', () => {
    const { rules } = buildFirewallRules({ plan: { ...plan, uplinkAddress: undefined }, webPort: 8006, hostPorts: [], id: 'x' });
    for (const rule of rules) expect(rule.spec.join(' ')).toContain('--comment windock:x');
    expect(rules.find((r) => r.chain === 'PREROUTING')?.spec).toEqual(['-i', 'eth0', '-m', 'comment', '--comment', 'windock:x', '-j', 'WINDOCK-PREROUTING']);
  });
});

describe('iptables -S parsing', () => {
  const save = [
    '-P PREROUTING ACCEPT',
    '-N DOCKER_OUTPUT',
    '-N WINDOCK-PREROUTING',
    '-A PREROUTING -i eth0 -d 10.1.2.3/32 -m comment --comment windock:windock0 -j WINDOCK-PREROUTING',
    '-A PREROUTING -m comment --comment "someone else\'s rule" -j DOCKER_OUTPUT',
  ].join('\n');

  it('finds the tagged rules as -D argv', () => {
    expect(taggedRulesToDelete(save)).toEqual([
      ['-D', 'PREROUTING', '-i', 'eth0', '-d', '10.1.2.3/32', '-m', 'comment', '--comment', 'windock:windock0', '-j', 'WINDOCK-PREROUTING'],
    ]);
  });

  it('finds our chains only', () => {
    expect(ownChains(save)).toEqual(['WINDOCK-PREROUTING']);
  });

  it('splits quoted words', () => {
    expect(splitSaveLine('-A X -m comment --comment "a \\"b\\" c" -j Y')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'Y']);
  });
});
