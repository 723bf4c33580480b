/**
 * NETWORK=tap in real network namespaces: the "container" is a namespace made by
 * test/fixtures/netns.ts, and windock's preflight + startNetwork run inside it as their own
 * process (network-driver.ts). The guest here is a stand-in: a second namespace whose eth0 (with
 * the guest's MAC) is a port of windock's bridge, that asks dnsmasq for its address with busybox
 * udhcpc and answers on TCP 3389/8080/8006 and UDP 3389 like the test guest does. The QEMU test
 * guest on the tap itself is exercised in network-guest.test.ts.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileSources, createNetns, destroyAllNetns, type Netns } from '../fixtures/netns.js';
import { startDriver, type Driver } from './network-driver.js';
import { startStandInGuest, type StandIn } from '../fixtures/stand-in-guest.js';

let build: string;
const drivers: Driver[] = [];
const extraNs: string[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  build = await compileSources();
});
afterEach(async () => {
  for (const d of drivers.splice(0)) d.child.kill('SIGKILL');
  for (const name of extraNs.splice(0)) await deleteNs(name);
  await destroyAllNetns();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await rm(build, { recursive: true, force: true });
});

async function deleteNs(name: string) {
  const { stdout } = await execa('ip', ['netns', 'pids', name], { reject: false });
  const pids = String(stdout).split(/\s+/).filter(Boolean);
  if (pids.length) await execa('kill', ['-KILL', ...pids], { reject: false });
  await execa('ip', ['netns', 'del', name], { reject: false });
}

async function startContainer(ns: Netns, extraEnv: Record<string, string> = {}): Promise<Driver> {
  const storage = extraEnv.STORAGE ?? (await mkdtemp(join(tmpdir(), 'windock-net-')));
  if (!dirs.includes(storage)) dirs.push(storage);
  const driver = await startDriver(ns, build, {
    KVM: 'N',
    RAM_SIZE: '256M',
    NETWORK: 'tap',
    STORAGE: storage,
    RUN_DIR: join(storage, 'run'),
    WEB_PORT: '8006',
    ...extraEnv,
  });
  drivers.push(driver);
  return driver;
}

async function standInGuest(container: Netns, mac: string, bridge: string, label: string): Promise<StandIn> {
  extraNs.push(`${container.name}-g`);
  return startStandInGuest(container, mac, bridge, label);
}

/** Re-attach a stand-in guest's veth to a rebuilt bridge (a restart deleted the old bridge). */
async function reattach(container: Netns, bridge: string) {
  const hostSide = `wdg${container.name.slice(-6)}`;
  await execa('ip', ['netns', 'exec', container.name, 'ip', 'link', 'set', hostSide, 'master', bridge, 'up']);
}

function tcpLine(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port}`));
    }, 10_000);
    socket.on('data', (d) => (data += d.toString()));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(data.trim());
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function udpLine(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setInterval(() => socket.send('ping', port, host), 300);
    const deadline = setTimeout(() => {
      clearInterval(timer);
      socket.close();
      reject(new Error(`no UDP answer from ${host}:${port}`));
    }, 10_000);
    socket.on('message', (m) => {
      clearInterval(timer);
      clearTimeout(deadline);
      socket.close();
      resolve(m.toString().trim());
    });
    socket.send('ping', port, host);
  });
}

async function iptablesSave(ns: Netns): Promise<string> {
  return String((await ns.exec('iptables-save')).stdout);
}

async function webListener(ns: Netns) {
  const child = ns.spawn(process.execPath, ['-e', "require('node:net').createServer((s)=>s.end('windock-web\\n')).listen(8006,'0.0.0.0',()=>console.log('up'))"]);
  await new Promise((r) => child.stdout!.once('data', r));
  return child;
}

async function dnsmasqPids(ns: Netns): Promise<number[]> {
  const { stdout } = await execa('ip', ['netns', 'pids', ns.name]);
  const pids: number[] = [];
  for (const pid of String(stdout).split(/\s+/).filter(Boolean)) {
    const comm = await execa('cat', [`/proc/${pid}/comm`], { reject: false });
    if (String(comm.stdout).trim() === 'dnsmasq') pids.push(Number(pid));
  }
  return pids;
}

describe('NETWORK=tap in a namespace', () => {
  it('gives the guest its lease, forwards TCP 3389/8080 and UDP 3389, keeps WEB_PORT, and cleans up', async () => {
    const ns = await createNetns();
    const driver = await startContainer(ns);
    const { plan, spec } = driver.ready;
    expect(spec).toMatchObject({ mode: 'tap', ifname: 'windock-tap0', model: 'virtio-net-pci' });
    expect(plan).toMatchObject({ uplink: 'eth0', uplinkAddress: ns.address, guestAddress: '172.30.0.2', bridgeAddress: '172.30.0.1' });
    expect(driver.ready.guestAddress).toBe('172.30.0.2');

    const guest = await standInGuest(ns, plan!.mac, plan!.bridge, 'g1');
    expect(guest.lease).toBe('172.30.0.2');
    const web = await webListener(ns);

    expect(await tcpLine(ns.address, 3389)).toBe('windock-guest 3389 g1');
    expect(await tcpLine(ns.address, 8080)).toBe('windock-guest 8080 g1');
    expect(await udpLine(ns.address, 3389)).toBe('windock-guest 3389 g1');
    expect(await tcpLine(ns.address, 8006)).toBe('windock-web');
    // From inside the container, loopback stays with the container.
    const inside = await ns.exec(process.execPath, ['-e', "require('node:net').connect(8006,'127.0.0.1').on('data',d=>{process.stdout.write(d);process.exit(0)})"]);
    expect(String(inside.stdout).trim()).toBe('windock-web');
    // The guest's own traffic leaves masqueraded: it reaches the "Docker host" side.
    const ping = await execa('ip', ['netns', 'exec', guest.name, 'busybox', 'ping', '-c', '1', '-W', '5', ns.hostAddress], { reject: false });
    expect(ping.exitCode).toBe(0);

    const rules = await iptablesSave(ns);
    expect(rules).toContain('windock:windock0');
    expect(rules).toContain('--clamp-mss-to-pmtu');
    web.kill('SIGKILL');

    await driver.close();
    expect(await iptablesSave(ns)).not.toMatch(/windock|WINDOCK/);
    const links = String((await ns.exec('ip', ['-o', 'link'])).stdout);
    expect(links).not.toContain('windock0');
    expect(links).not.toContain('windock-tap0');
    expect(await dnsmasqPids(ns)).toEqual([]);
  });

  it('after kill -9 of windock and dnsmasq, a new run removes the leftovers and works', async () => {
    const ns = await createNetns();
    const storage = await mkdtemp(join(tmpdir(), 'windock-net-'));
    const first = await startContainer(ns, { STORAGE: storage });
    const guest = await standInGuest(ns, first.ready.plan!.mac, first.ready.plan!.bridge, 'g1');
    expect(await tcpLine(ns.address, 3389)).toBe('windock-guest 3389 g1');
    const stale = await dnsmasqPids(ns);
    expect(stale.length).toBe(1);
    first.child.kill('SIGKILL');
    await execa('kill', ['-KILL', ...stale.map(String)]);
    expect(await iptablesSave(ns)).toContain('windock:');

    // A dnsmasq left running is also found and stopped (no pid file: argv + same namespace).
    const second = await startContainer(ns, { STORAGE: storage });
    expect(second.ready.plan!.mac).toBe(first.ready.plan!.mac);
    second.child.kill('SIGKILL'); // leave its dnsmasq running this time
    const third = await startContainer(ns, { STORAGE: storage });
    expect((await dnsmasqPids(ns)).length).toBe(1);
    const save = await iptablesSave(ns);
    expect(save.match(/-A PREROUTING .*windock:/g)?.length).toBe(1);
    expect(save.match(/-A WINDOCK-PREROUTING -p tcp -m comment --comment "windock:windock0" -j DNAT/g)?.length).toBe(1);
    await reattach(ns, third.ready.plan!.bridge);
    // The stand-in guest keeps its lease: same MAC from windock.json, same subnet.
    expect(third.ready.plan!.guestAddress).toBe(guest.lease);
    expect(await tcpLine(ns.address, 3389)).toBe('windock-guest 3389 g1');
    await third.close();
    expect(await iptablesSave(ns)).not.toMatch(/windock|WINDOCK/);
  });

  it('two containers at once each reach their own guest', async () => {
    const [a, b] = await Promise.all([createNetns(), createNetns()]);
    const [da, db] = await Promise.all([startContainer(a!), startContainer(b!)]);
    expect(da.ready.plan!.mac).not.toBe(db.ready.plan!.mac);
    await standInGuest(a!, da.ready.plan!.mac, 'windock0', 'guest-a');
    await standInGuest(b!, db.ready.plan!.mac, 'windock0', 'guest-b');
    expect(await tcpLine(a!.address, 3389)).toBe('windock-guest 3389 guest-a');
    expect(await tcpLine(b!.address, 3389)).toBe('windock-guest 3389 guest-b');
    expect(await udpLine(b!.address, 3389)).toBe('windock-guest 3389 guest-b');
    await Promise.all([da.close(), db.close()]);
  });

  it('keeps HOST_PORTS with the container', async () => {
    const ns = await createNetns();
    const driver = await startContainer(ns, { HOST_PORTS: '8080' });
    await standInGuest(ns, driver.ready.plan!.mac, 'windock0', 'g1');
    const local = ns.spawn(process.execPath, ['-e', "require('node:net').createServer((s)=>s.end('container-8080\\n')).listen(8080,'0.0.0.0',()=>console.log('up'))"]);
    await new Promise((r) => local.stdout!.once('data', r));
    expect(await tcpLine(ns.address, 8080)).toBe('container-8080');
    expect(await tcpLine(ns.address, 3389)).toBe('windock-guest 3389 g1');
    local.kill('SIGKILL');
    await driver.close();
  });

  it('reports a dnsmasq that dies', async () => {
    const ns = await createNetns();
    const driver = await startContainer(ns);
    const [pid] = await dnsmasqPids(ns);
    await execa('kill', ['-KILL', String(pid)]);
    const died = await driver.next('died', 10_000);
    expect(String(died.message)).toMatch(/dnsmasq exited unexpectedly \(killed by SIGKILL\)/);
    await driver.close();
  });
});
