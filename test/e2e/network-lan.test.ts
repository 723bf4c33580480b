/**
 * DHCP=Y (LAN mode) end to end through the real `windock` binary and the test guest under TCG.
 * Three namespaces: the LAN (a bridge with its own DHCP server, dnsmasq), the container (its
 * eth0 is a port of that LAN) and a LAN client (another port). The guest must take its address
 * from the LAN's server through windock's macvtap and answer the client on that address.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGuestReply } from '../fixtures/guest.js';
import { createNetns, type Netns } from '../fixtures/netns.js';
import { tempDir } from '../fixtures/windock.js';
import { guestStorage, guestUp, startIn, useNetworkTestHooks } from './network-support.js';

useNetworkTestHooks({ guest: true });

const extraNs: string[] = [];
const helpers: ReturnType<typeof execa>[] = [];
afterEach(async () => {
  for (const child of helpers.splice(0)) child.kill('SIGKILL');
  for (const name of extraNs.splice(0)) {
    const { stdout } = await execa('ip', ['netns', 'pids', name], { reject: false });
    const pids = String(stdout).split(/\s+/).filter(Boolean);
    if (pids.length) await execa('kill', ['-KILL', ...pids], { reject: false });
    await execa('ip', ['netns', 'del', name], { reject: false });
  }
});

const inNs = (ns: string, argv: string[]) => execa('ip', ['netns', 'exec', ns, ...argv]);

/** The LAN: the container's outer veth end moved onto a bridge in its own namespace, with a DHCP server and a client. */
async function makeLan(container: Netns) {
  const lan = `${container.name}-lan`;
  const client = `${container.name}-cl`;
  extraNs.push(lan, client);
  const subnet = container.hostAddress.replace(/\.1$/, '');
  await execa('ip', ['netns', 'add', lan]);
  await execa('ip', ['netns', 'add', client]);
  await inNs(lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await execa('ip', ['link', 'set', container.hostIf, 'netns', lan]);
  await inNs(lan, ['ip', 'link', 'set', container.hostIf, 'master', 'br0', 'up']);
  await inNs(lan, ['ip', 'addr', 'add', `${container.hostAddress}/24`, 'dev', 'br0']);
  await inNs(lan, ['ip', 'link', 'set', 'br0', 'up']);
  await inNs(lan, ['ip', 'link', 'add', 'cl0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
  await inNs(lan, ['ip', 'link', 'set', 'cl0', 'master', 'br0', 'up']);
  await inNs(client, ['ip', 'addr', 'add', `${subnet}.3/24`, 'dev', 'eth0']);
  await inNs(client, ['ip', 'link', 'set', 'eth0', 'up']);
  await inNs(client, ['ip', 'link', 'set', 'lo', 'up']);
  const leases = join(await tempDir('lan'), 'leases');
  const dnsmasq = execa('ip', ['netns', 'exec', lan, 'dnsmasq', '--keep-in-foreground', '--log-facility=-', '--conf-file=/dev/null', '--no-hosts', '--no-resolv', '--pid-file', '--port=0',
    '--bind-interfaces', '--interface=br0', '--except-interface=lo', `--dhcp-range=${subnet}.100,${subnet}.150,255.255.255.0,1h`, `--dhcp-leasefile=${leases}`, '--log-dhcp'], { reject: false, all: true });
  helpers.push(dnsmasq);
  await new Promise<void>((resolve, reject) => {
    dnsmasq.all!.on('data', (d: Buffer) => d.toString().includes('started, version') && resolve());
    void dnsmasq.then((r) => reject(new Error(`the LAN's dnsmasq exited: ${r.all}`)));
  });
  return { lan, client, subnet, dnsmasq };
}

/** The first line the guest sends to host:port, read from inside the client namespace. */
async function lineFrom(clientNs: string, host: string, port: number): Promise<string> {
  const script = `const s=require('node:net').connect(${port},'${host}');let d='';s.on('data',c=>{d+=c;if(d.includes('\\n')){process.stdout.write(d);process.exit(0)}});s.on('error',e=>{console.error(e.message);process.exit(1)});setTimeout(()=>process.exit(2),15000)`;
  const result = await execa('ip', ['netns', 'exec', clientNs, process.execPath, '-e', script], { reject: false, all: true });
  return String(result.all);
}

describe('DHCP=Y: the guest on the LAN', () => {
  it("takes its address from the LAN's DHCP server and answers a LAN client on it", async () => {
    const ns = await createNetns();
    const { client, subnet } = await makeLan(ns);
    const { run } = startIn(ns, await guestStorage(), { NETWORK: 'tap', DHCP: 'Y' });
    const guest = await guestUp(run);
    expect(guest.ip, `guest lease; windock's last lines:\n${run.lines.slice(-20).map((l) => l.msg).join('\n')}`).toMatch(new RegExp(`^${subnet.replaceAll('.', '\\.')}\\.(1[0-4]\\d|150)$`));
    const reply = parseGuestReply(await lineFrom(client, guest.ip, 3389));
    expect(reply).toEqual({ port: 3389, ip: guest.ip, peer: `${subnet}.3` });
    // No NAT of windock's own in this mode: the container's namespace has no windock rules.
    const rules = String((await ns.exec('iptables-save')).stdout);
    expect(rules).not.toMatch(/windock/);
  });
});
