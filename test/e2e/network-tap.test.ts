/**
 * NETWORK=tap end to end through the real `windock` binary: the test guest under TCG in a
 * namespace playing the container (veth; this side plays the Docker host). What a user of
 * `docker run -p 3389:3389 -p 8080:8080 -p 8006:8006` relies on: the guest's ports answer on the
 * container's address, the web port stays windock's, and nothing is left after a stop or a crash.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNetns } from '../fixtures/netns.js';
import { guestTcp, guestUdp } from '../fixtures/guest.js';
import { pollUntil, serialLine } from '../fixtures/windock.js';
import {
  guestStorage,
  guestUp,
  health,
  killPid,
  links,
  programsInside,
  startIn,
  WEB_PORT,
  useNetworkTestHooks,
  windockRules,
} from './network-support.js';

const TAP = { NETWORK: 'tap' };

useNetworkTestHooks({ guest: true });

describe('NETWORK=tap through the real binary', () => {
  it('forwards TCP 3389/8080 and UDP 3389 to the DHCP-configured guest, keeps the web port, and leaves nothing after SIGTERM', async () => {
    const ns = await createNetns();
    const { run } = startIn(ns, await guestStorage(), TAP);
    const guest = await guestUp(run);

    // The address the guest took by DHCP is the one windock reports.
    const reported = await health(ns.address);
    expect(reported.status).toBe(200);
    expect(reported.body?.guest.address).toBe(guest.ip);
    await pollUntil(() => health(ns.address, '/health/ready').then((r) => r.status), (s) => s === 200, 60_000, 500);
    // /health/ready follows the guest answering on 3389, which it only does once it listens.
    // (Bounded by the NIC line, which the guest prints before it starts its DHCP client and
    // listeners: the serial line "listening" may reach the log a moment after the first answer.)
    const nicUp = run.lines.findIndex(serialLine('windock-guest: nic '));
    const answers = run.lines.findIndex((l) => l.msg === 'the guest answers');
    expect(nicUp).toBeGreaterThan(-1);
    expect(answers).toBeGreaterThan(nicUp);

    // The guest's listeners, reached on the container's address from the "Docker host".
    expect(await guestTcp(ns.address, 3389)).toEqual({ port: 3389, ip: guest.ip, peer: ns.hostAddress });
    expect(await guestTcp(ns.address, 8080)).toEqual({ port: 8080, ip: guest.ip, peer: ns.hostAddress });
    expect(await guestUdp(ns.address, 3389)).toEqual({ port: 3389, ip: guest.ip, peer: ns.hostAddress });
    // The web port is answered by windock itself (JSON), not forwarded to the guest.
    expect(reported.body?.phase).toBe('running');
    expect(run.lines.some((l) => l.msg === 'web server listening' && l.port === WEB_PORT)).toBe(true);

    // While it runs: the rules, the bridge and tap, and dnsmasq exist.
    const during = await windockRules(ns);
    expect(during.nat.length).toBeGreaterThan(0);
    expect(await links(ns)).toEqual(expect.arrayContaining(['windock0', 'windock-tap0']));
    expect(await programsInside(ns)).toContain('dnsmasq');

    run.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    expect(await windockRules(ns)).toEqual({ nat: [], filter: [], mangle: [] });
    const after = await links(ns);
    expect(after).not.toContain('windock0');
    expect(after).not.toContain('windock-tap0');
    expect(await programsInside(ns)).not.toContain('dnsmasq');
  });

  it('after kill -9 of windock and QEMU, a new start in the same namespace and STORAGE cleans up and works', async () => {
    const ns = await createNetns();
    const where = await guestStorage();
    const first = startIn(ns, where, TAP);
    const before = await guestUp(first.run);
    expect(await guestTcp(ns.address, 3389)).toMatchObject({ ip: before.ip });
    const qemuPid = Number(first.run.lines.find((l) => l.msg === 'QEMU started')?.pid);
    expect(qemuPid).toBeGreaterThan(0);
    const persisted = JSON.parse(await readFile(join(where.storage, 'windock.json'), 'utf8')) as { mac?: string };
    expect(persisted.mac).toBe(before.mac);

    first.run.kill('SIGKILL');
    killPid(qemuPid);
    await first.run.exited;
    // What a crash leaves: the tagged rules and the persistent tap on the bridge.
    const leftovers = await windockRules(ns);
    expect(leftovers.nat.some((l) => l.startsWith('-A PREROUTING'))).toBe(true);
    expect(await links(ns)).toEqual(expect.arrayContaining(['windock0', 'windock-tap0']));

    const second = startIn(ns, where, TAP);
    const after = await guestUp(second.run);
    expect(after.mac).toBe(before.mac);
    expect(after.ip).toBe(before.ip);
    expect(await guestTcp(ns.address, 3389)).toEqual({ port: 3389, ip: after.ip, peer: ns.hostAddress });
    const rules = await windockRules(ns);
    const jumps = (lines: string[], chain: string) => lines.filter((l) => l.startsWith(`-A ${chain} `) && l.includes('windock:')).length;
    expect(jumps(rules.nat, 'PREROUTING')).toBe(1);
    expect(jumps(rules.nat, 'POSTROUTING')).toBe(1);
    expect(jumps(rules.filter, 'FORWARD')).toBe(1);
    expect(jumps(rules.mangle, 'FORWARD')).toBe(1);
    expect((await programsInside(ns)).filter((p) => p === 'dnsmasq')).toHaveLength(1);

    second.run.kill('SIGTERM');
    expect((await second.run.exited).code).toBe(0);
    expect(await windockRules(ns)).toEqual({ nat: [], filter: [], mangle: [] });
  });

  it('runs two containers at once, each guest reachable from its own host side with its own address', async () => {
    const [a, b] = await Promise.all([createNetns(), createNetns()]);
    // Container b also has a route into 172.30.0.0/24 (as a Docker network there would give it),
    // so its guest subnet must differ from a's: each reply then names its own guest.
    await b.exec('ip', ['route', 'add', '172.30.0.0/24', 'via', b.hostAddress]);
    const [whereA, whereB] = await Promise.all([guestStorage(), guestStorage()]);
    const runA = startIn(a, whereA, TAP).run;
    const runB = startIn(b, whereB, TAP).run;
    const [guestA, guestB] = await Promise.all([guestUp(runA), guestUp(runB)]);
    expect(guestA.ip).toBe('172.30.0.2');
    expect(guestB.ip).toBe('172.30.1.2');
    expect(guestA.mac).not.toBe(guestB.mac);

    expect(await guestTcp(a.address, 3389)).toEqual({ port: 3389, ip: guestA.ip, peer: a.hostAddress });
    expect(await guestTcp(b.address, 3389)).toEqual({ port: 3389, ip: guestB.ip, peer: b.hostAddress });
    expect(await guestUdp(a.address, 3389)).toMatchObject({ ip: guestA.ip });
    expect(await guestUdp(b.address, 3389)).toMatchObject({ ip: guestB.ip });
    expect((await health(a.address)).body?.guest.address).toBe(guestA.ip);
    expect((await health(b.address)).body?.guest.address).toBe(guestB.ip);

    runA.kill('SIGTERM');
    runB.kill('SIGTERM');
    expect((await runA.exited).code).toBe(0);
    expect((await runB.exited).code).toBe(0);
  });
});
