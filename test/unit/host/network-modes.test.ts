import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDnsmasqArgs, parseResolvConf } from '../../../src/network/dhcp.js';
import { buildPasstArgs, judgePasstVersion, userForwards } from '../../../src/network/network.js';
import { probeTcp, RDP_CONNECTION_REQUEST } from '../../../src/network/reachability.js';

describe('dnsmasq argv', () => {
  it('binds to the bridge, hands out one fixed lease and names the bridge as router and DNS', () => {
    const args = buildDnsmasqArgs({
      plan: { bridge: 'windock0', bridgeAddress: '172.30.0.1', guestAddress: '172.30.0.2', mac: '02:11:22:33:44:55', subnet: { network: '172.30.0.0', prefixLength: 24 } },
      runDir: '/run/windock',
      upstream: ['127.0.0.11'],
      debug: false,
    });
    expect(args).toEqual([
      '--keep-in-foreground',
      '--log-facility=-',
      '--conf-file=/dev/null',
      '--no-hosts',
      '--no-resolv',
      '--pid-file',
      '--bind-interfaces',
      '--interface=windock0',
      '--except-interface=lo',
      '--dhcp-range=172.30.0.2,static,255.255.255.0,12h',
      '--dhcp-host=02:11:22:33:44:55,172.30.0.2',
      '--dhcp-option=option:router,172.30.0.1',
      '--dhcp-option=option:dns-server,172.30.0.1',
      '--host-record=host.lan,172.30.0.1',
      '--dhcp-authoritative',
      '--dhcp-leasefile=/run/windock/dnsmasq.leases',
      '--server=127.0.0.11',
    ]);
  });

  it('reads upstream servers from resolv.conf', () => {
    const text = '# generated\nsearch example\nnameserver 127.0.0.11\nnameserver 172.30.0.1\nnameserver 2001:db8::1\noptions ndots:0\n';
    expect(parseResolvConf(text, ['172.30.0.1'])).toEqual(['127.0.0.11', '2001:db8::1']);
  });
});

describe('user networking', () => {
  it('forwards 3389 tcp+udp and USER_PORTS', () => {
    expect(userForwards({ userPorts: [{ from: 8080, to: 8081, protocol: 'tcp' }, { from: 3389, to: 3389, protocol: 'tcp' }] })).toEqual([
      { protocol: 'tcp', hostPort: 3389, guestPort: 3389 },
      { protocol: 'udp', hostPort: 3389, guestPort: 3389 },
      { protocol: 'tcp', hostPort: 8080, guestPort: 8080 },
      { protocol: 'tcp', hostPort: 8081, guestPort: 8081 },
    ]);
  });

  it('builds passt argv', () => {
    const forwards = userForwards({ userPorts: [{ from: 80, to: 80, protocol: 'tcp' }] });
    expect(buildPasstArgs('/run/windock/passt.sock', forwards)).toEqual([
      '--foreground', '--stderr', '--socket', '/run/windock/passt.sock', '-t', '3389,80', '-u', '3389',
    ]);
  });
});

describe('passt version gate', () => {
  it("uses dated passt releases and not Debian bookworm's undated 2023-03 snapshot", () => {
    expect(judgePasstVersion('passt 2024_06_07.8a83b53\nCopyright Red Hat\n').usable).toBe(true);
    const bookworm = judgePasstVersion('passt unknown version\nCopyright Red Hat\n');
    expect(bookworm.usable).toBe(false);
    expect(bookworm.reason).toContain('"passt unknown version"');
    expect(judgePasstVersion('').usable).toBe(false);
  });
});

describe('probeTcp', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const listen = async (onConnection: (socket: import('node:net').Socket) => void): Promise<number> => {
    const server = createServer(onConnection);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  };

  it('is true for a listener that keeps the connection open, or answers and closes', async () => {
    const quiet = await listen(() => {});
    const talker = await listen((s) => s.end('windock-guest 3389 x\n'));
    const signal = new AbortController().signal;
    expect(await probeTcp('127.0.0.1', quiet, 2000, signal, { settleMs: 50 })).toBe(true);
    expect(await probeTcp('127.0.0.1', talker, 2000, signal, { settleMs: 50 })).toBe(true);
  });

  it('is false when the accepting side closes at once without data (a forwarder whose guest refused)', async () => {
    const closer = await listen((s) => s.destroy());
    expect(await probeTcp('127.0.0.1', closer, 2000, new AbortController().signal, { settleMs: 500 })).toBe(false);
  });

  it('with expectReply: false for a forwarder that only holds the connection, true once something answers the RDP request', async () => {
    const holder = await listen((s) => s.resume());
    const received: Buffer[] = [];
    const rdp = await listen((s) => s.once('data', (d: Buffer) => {
      received.push(d);
      s.end(Buffer.from('0300000b06d00000123400', 'hex'));
    }));
    const signal = new AbortController().signal;
    expect(await probeTcp('127.0.0.1', holder, 800, signal, { settleMs: 50, expectReply: true })).toBe(false);
    expect(await probeTcp('127.0.0.1', rdp, 2000, signal, { expectReply: true })).toBe(true);
    expect(received[0]).toEqual(RDP_CONNECTION_REQUEST);
  });

  it('is false for a closed port and when aborted', async () => {
    const port = await listen(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    expect(await probeTcp('127.0.0.1', port, 2000, new AbortController().signal)).toBe(false);
    const controller = new AbortController();
    controller.abort();
    const open = await listen(() => {});
    expect(await probeTcp('127.0.0.1', open, 2000, controller.signal)).toBe(false);
  });
});
