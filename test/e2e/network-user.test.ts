/**
 * NETWORK=user end to end through the real `windock` binary, in a namespace whose windock has no
 * NET_ADMIN: the container's published 3389 (tcp+udp) reaches the test guest.
 *
 * This machine's passt is Debian bookworm's 2023-03 snapshot, which never completes a forwarded
 * handshake with a guest (src/network/network.ts, judgePasstVersion), so windock uses QEMU's slirp
 * here; the test checks that it says so.
 */
import { describe, expect, it } from 'vitest';
import { createNetns } from '../fixtures/netns.js';
import { pollUntil, serialLine } from '../fixtures/windock.js';
import { guestTcp, guestUdp } from '../fixtures/guest.js';
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
});
