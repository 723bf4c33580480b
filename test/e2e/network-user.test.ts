/**
 * NETWORK=user end to end through the real `windock` binary, in a namespace whose windock has no
 * NET_ADMIN: the container's published 3389 (tcp+udp) reaches the test guest, also when the
 * container itself is on QEMU's default slirp network (rootless Podman's slirp4netns).
 *
 * This machine's passt is Debian bookworm's 2023-03 snapshot, which never completes a forwarded
 * handshake with a guest (src/network/network.ts, judgePasstVersion), so windock uses QEMU's slirp
 * here; the test checks that it says so.
 */
import { describe, expect, it } from 'vitest';
import { createNetns } from '../fixtures/netns.js';
import { pollUntil, serialLine, tail } from '../fixtures/windock.js';
import { guestTcp, guestUdp, parseGuestReply } from '../fixtures/guest.js';
import { guestStorage, guestUp, health, NO_NET_ADMIN, startIn, useNetworkTestHooks } from './network-support.js';

/** QEMU's slirp puts the guest at 10.0.2.15 (QEMU docs, "Network emulation"). */
const SLIRP = { guest: '10.0.2.15' };

useNetworkTestHooks({ guest: true });

describe('NETWORK=user without NET_ADMIN', () => {
  it('forwards TCP and UDP 3389 from the container address to the guest', async () => {
    const ns = await createNetns();
    const { run } = startIn(ns, await guestStorage(), { NETWORK: 'user', USER_PORTS: '8080/tcp' }, NO_NET_ADMIN);
    await run.waitForLine((l) => l.msg === 'user networking through QEMU slirp', 60_000);
    expect(run.lines.find((l) => l.msg === 'host ready')?.netAdmin).toBe(false);
    expect(run.lines.some((l) => l.msg === 'not using passt')).toBe(true);

    const guest = await guestUp(run);
    expect(guest.ip).toBe(SLIRP.guest);
    // libslirp's host forwards keep the client's address as the source the guest sees.
    expect(await guestTcp(ns.address, 3389)).toEqual({ port: 3389, ip: SLIRP.guest, peer: ns.hostAddress });
    expect(await guestTcp(ns.address, 8080)).toEqual({ port: 8080, ip: SLIRP.guest, peer: ns.hostAddress });
    expect(await guestUdp(ns.address, 3389)).toMatchObject({ port: 3389, ip: SLIRP.guest });
    expect((await health(ns.address)).body?.guest.address).toBe(SLIRP.guest);

    // Ready only once the guest itself answers: slirp accepts on the container side long before.
    await pollUntil(() => health(ns.address, '/health/ready').then((r) => r.status), (s) => s === 200, 60_000, 500);
    // (Bounded by the NIC line, which the guest prints before it starts its DHCP client and
    // listeners: the serial line "listening" may reach the log a moment after the first answer.)
    const nicUp = run.lines.findIndex(serialLine('windock-guest: nic '));
    const answers = run.lines.findIndex((l) => l.msg === 'the guest answers');
    expect(nicUp).toBeGreaterThan(-1);
    expect(answers).toBeGreaterThan(nicUp);

    run.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });

  it("moves slirp's network off 10.0.2.0/24 when the container is on it (rootless Podman's slirp4netns: 10.0.2.100/24), so a connection from there gets the guest's answer", async () => {
    const ns = await createNetns();
    const added = await ns.exec('ip', ['addr', 'add', SLIRP4NETNS_ADDRESS + '/24', 'dev', 'eth0']);
    expect(added.exitCode, String(added.stderr)).toBe(0);
    const { run } = startIn(ns, await guestStorage(), { NETWORK: 'user' }, NO_NET_ADMIN);
    const moved = await run.waitForLine((l) => l.msg === 'QEMU slirp uses another guest network', 60_000);
    expect(moved, tail(run.lines)).toMatchObject({ net: '10.0.3.0/24' });
    const guest = await guestUp(run);
    expect(guest.ip, tail(run.lines)).toBe('10.0.3.15');
    // From the container's own 10.0.2.100, as Podman's port forwarder connects: with slirp on
    // 10.0.2.0/24 the guest took that peer for a neighbour and its answer never came back.
    const reply = await ns.exec('node', ['-e', CONNECT_FROM_INSIDE, SLIRP4NETNS_ADDRESS, '3389'], { timeout: 60_000 });
    expect(reply.exitCode, `${String(reply.stdout)}${String(reply.stderr)}\n${tail(run.lines)}`).toBe(0);
    expect(parseGuestReply(String(reply.stdout)), String(reply.stdout)).toEqual({ port: 3389, ip: '10.0.3.15', peer: SLIRP4NETNS_ADDRESS });
    expect((await health(ns.address)).body?.guest.address).toBe('10.0.3.15');
    run.kill('SIGTERM');
    expect((await run.exited).code, tail(run.lines)).toBe(0);
  });
});

/** The address slirp4netns gives a rootless Podman container (slirp4netns(1), --cidr 10.0.2.0/24). */
const SLIRP4NETNS_ADDRESS = '10.0.2.100';

/** Connects to argv host:port until a line comes back (the guest may still be starting its listeners). */
const CONNECT_FROM_INSIDE = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const deadline = Date.now() + 45000;
const attempt = () => {
  const socket = net.connect(Number(port), host);
  let data = '';
  socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
  socket.on('data', (d) => { data += d; if (data.includes('\\n')) { process.stdout.write(data.split('\\n')[0] + '\\n'); process.exit(0); } });
  socket.on('error', (e) => { if (Date.now() > deadline) { console.error(e.message); process.exit(1); } setTimeout(attempt, 1000); });
  socket.on('close', () => {});
};
attempt();
`;
