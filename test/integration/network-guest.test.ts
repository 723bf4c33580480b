/**
 * The QEMU test guest (test/fixtures/guest.ts) under TCG behind windock's network, in a
 * namespace playing the container: NETWORK=tap (QEMU on windock's tap, DHCP from dnsmasq, DNAT
 * from the container's address).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyGuestDisk, ensureTestGuest, GUEST_LOG_PREFIX, parseGuestReply, tcpLine } from '../fixtures/guest.js';
import { compileSources, createNetns, destroyAllNetns, type Netns } from '../fixtures/netns.js';
import { startDriver, type Driver } from './network-driver.js';
import type { NetworkSpec } from '../../src/qemu/vm-spec.js';

let build: string;
const drivers: Driver[] = [];
const qemus: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [build] = await Promise.all([compileSources(), ensureTestGuest()]);
});
afterEach(async () => {
  for (const q of qemus.splice(0)) q.kill('SIGKILL');
  for (const d of drivers.splice(0)) d.child.kill('SIGKILL');
  await destroyAllNetns();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await rm(build, { recursive: true, force: true });
});

function netArgs(spec: NetworkSpec): string[] {
  switch (spec.mode) {
    case 'tap':
      return ['-netdev', `tap,id=n0,ifname=${spec.ifname},script=no,downscript=no`, '-device', `${spec.model},netdev=n0,mac=${spec.mac}`];
    default:
      throw new Error(`not used here: ${spec.mode}`);
  }
}

/** Boots the guest inside the namespace; resolves with its DHCP address once it also listens. */
async function bootGuest(ns: Netns, dir: string, spec: NetworkSpec): Promise<string> {
  const disk = await copyGuestDisk(dir);
  const qemu = ns.spawn('qemu-system-x86_64', [
    '-accel', 'tcg', '-m', '256', '-nodefaults', '-display', 'none', '-serial', 'stdio',
    '-drive', `file=${disk},if=virtio,format=qcow2`, ...netArgs(spec),
  ]);
  qemus.push(qemu);
  let ip: string | undefined;
  let listening = false;
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`guest not ready:\n${lines.slice(-20).join('\n')}`)), 150_000);
    createInterface({ input: qemu.stdout! }).on('line', (line) => {
      lines.push(line);
      if (!line.includes(GUEST_LOG_PREFIX)) return;
      ip ??= /dhcp ip=(\d+\.\d+\.\d+\.\d+)/.exec(line)?.[1];
      listening ||= line.includes('listening');
      if (ip && listening) {
        clearTimeout(timer);
        resolve(ip);
      }
    });
    qemu.once('exit', (code) => reject(new Error(`qemu exited ${code}:\n${lines.slice(-20).join('\n')}`)));
  });
}

async function storage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'windock-guest-net-'));
  dirs.push(dir);
  return dir;
}

describe('the test guest behind windock', () => {
  it('NETWORK=tap: the guest takes its lease by DHCP and answers 3389/8080 through the DNAT', async () => {
    const ns = await createNetns();
    const dir = await storage();
    const driver = await startDriver(ns, build, { KVM: 'N', RAM_SIZE: '256M', STORAGE: dir, RUN_DIR: join(dir, 'run') });
    drivers.push(driver);
    const ip = await bootGuest(ns, dir, driver.ready.spec);
    expect(ip).toBe(driver.ready.guestAddress);
    expect(parseGuestReply(await tcpLine(ns.address, 3389))).toMatchObject({ port: 3389, ip, peer: ns.hostAddress });
    expect(parseGuestReply(await tcpLine(ns.address, 8080))).toMatchObject({ port: 8080, ip });
    await driver.close();
  });
});
