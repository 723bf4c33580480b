import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { checkHost } from '../../../src/host/check.js';
import type { HostFacts } from '../../../src/host/facts.js';
import { preflight } from '../../../src/host/preflight.js';
import { probeHost } from '../../../src/host/probe.js';
import { makeContext, makeFakeHost, type FakeHost, type FakeHostOptions } from './fake-host.js';
import { expectAppError } from '../../fixtures/app-error.js';

const hosts: FakeHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.cleanup()));
});

async function fake(options: FakeHostOptions = {}): Promise<FakeHost> {
  const host = await makeFakeHost(options);
  hosts.push(host);
  return host;
}

async function failure(host: FakeHost, env: Record<string, string> = {}): Promise<AppError> {
  const { ctx } = makeContext(env, host.root);
  return expectAppError(preflight(ctx, host.deps));
}

describe('probeHost', () => {
  it('reads every fact from the tree', async () => {
    const host = await fake({ cgroupMemoryMax: String(2 * 2 ** 30), cgroupCpuMax: '150000 100000' });
    const facts = await probeHost(host.deps);
    expect(facts).toEqual<HostFacts>({
      kvm: { present: true, usable: true, problem: undefined },
      cpuVirtualization: 'vmx',
      tun: true,
      vhostNet: true,
      netAdmin: true,
      ipForward: true,
      iptablesBackend: 'nft',
      memoryAvailableBytes: 2 * 2 ** 30,
      cpusAvailable: 2,
      programs: { passt: false, swtpm: false, dnsmasq: true },
      netns: { netInode: undefined, pidInode: undefined, pid1NetInode: undefined, links: undefined },
    });
  });

  it('takes MemAvailable when it is below the cgroup limit, and nproc when cpu.max is "max"', async () => {
    const host = await fake({ memAvailableKiB: 1024 * 1024, cgroupMemoryMax: 'max', cgroupCpuMax: 'max 100000' });
    const facts = await probeHost(host.deps);
    expect(facts.memoryAvailableBytes).toBe(2 ** 30);
    expect(facts.cpusAvailable).toBe(8);
  });

  it('sees a wrong device number, svm, the legacy backend and a missing NET_ADMIN', async () => {
    const host = await fake({ cpuFlags: 'fpu svm', iptables: 'iptables v1.8.9 (legacy)', netAdmin: false });
    host.devices.set(join(host.deps.devDir, 'kvm'), { charDevice: true, major: 1, minor: 3, uid: 0, gid: 0, mode: 0o666 });
    const facts = await probeHost(host.deps);
    expect(facts.kvm.present).toBe(false);
    expect(facts.kvm.problem).toContain('not the KVM character device 10:232 (found char 1:3)');
    expect(facts.cpuVirtualization).toBe('svm');
    expect(facts.iptablesBackend).toBe('legacy');
    expect(facts.netAdmin).toBe(false);
  });
});

describe('preflight fixes', () => {
  it('gives /dev/kvm group kvm and mode 0660, creating the group when missing', async () => {
    const host = await fake({ kvmGroup: false });
    const { ctx } = makeContext({ NETWORK: 'none' }, host.root);
    const facts = await preflight(ctx, host.deps);
    expect(facts.kvm.usable).toBe(true);
    expect(host.calls).toContainEqual(['groupadd', '--system', 'kvm']);
    const s = await stat(join(host.deps.devDir, 'kvm'));
    expect(s.gid).toBe(994);
    expect(s.mode & 0o777).toBe(0o660);
  });

  it('creates /dev/net/tun with mknod 10:200 and sets ip_forward when NETWORK=tap', async () => {
    const host = await fake({ tun: false, ipForward: false });
    const { ctx } = makeContext({}, host.root);
    const facts = await preflight(ctx, host.deps);
    expect(host.calls).toContainEqual(['mknod', '-m', '0666', join(host.deps.devDir, 'net/tun'), 'c', '10', '200']);
    expect(facts.tun).toBe(true);
    expect(facts.ipForward).toBe(true);
  });

  it('leaves tun and ip_forward alone for NETWORK=user', async () => {
    const host = await fake({ tun: false, ipForward: false, netAdmin: false });
    const { ctx } = makeContext({ NETWORK: 'user' }, host.root);
    const facts = await preflight(ctx, host.deps);
    expect(facts.tun).toBe(false);
    expect(facts.ipForward).toBe(false);
    expect(host.calls.some((c) => c[0] === 'mknod')).toBe(false);
  });

  it('warns that TCG is slow with KVM=N and does not need /dev/kvm', async () => {
    const host = await fake({ kvm: false });
    const { ctx, lines } = makeContext({ KVM: 'N' }, host.root);
    const facts = await preflight(ctx, host.deps);
    expect(facts.kvm.present).toBe(false);
    expect(lines().some((l) => l.level === 40 && String(l.msg).includes('TCG'))).toBe(true);
  });
});

describe('preflight failures exit 3 with their own message and fix', () => {
  it('no /dev/kvm with KVM=Y', async () => {
    const host = await fake({ kvm: false });
    const error = await failure(host);
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe(`KVM is not available: ${join(host.deps.devDir, 'kvm')} does not exist`);
    expect(error.hint).toContain('--device /dev/kvm');
    expect(error.hint).toContain('KVM=N');
  });

  it('a /dev/kvm that does not open', async () => {
    const host = await fake();
    host.unopenable.add(join(host.deps.devDir, 'kvm'));
    const error = await failure(host);
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/^KVM is not available: .*kvm cannot be opened read-write: EACCES/);
    expect(error.hint).toContain('--device /dev/kvm');
  });

  it('no tun with NETWORK=tap, and mknod refused', async () => {
    const host = await fake({ tun: false, mknodWorks: false });
    const error = await failure(host);
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe('NETWORK=tap needs /dev/net/tun, which is missing and could not be created');
    expect(error.hint).toContain('--device /dev/net/tun');
    expect(error.hint).toContain('NETWORK=user');
  });

  it('no NET_ADMIN with NETWORK=tap', async () => {
    const host = await fake({ netAdmin: false });
    const error = await failure(host);
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe('NETWORK=tap needs the NET_ADMIN capability, which the container lacks');
    expect(error.hint).toContain('--cap-add NET_ADMIN');
    expect(error.hint).toContain('NETWORK=user');
  });

  it('IP forwarding off and not settable', async () => {
    const host = await fake({ ipForwardReadOnly: true });
    const error = await failure(host);
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe('NETWORK=tap needs IP forwarding: net.ipv4.ip_forward is 0 and could not be set to 1');
    expect(error.hint).toContain('--sysctl net.ipv4.ip_forward=1');
  });

  it('RAM_SIZE above the available memory, unless RAM_CHECK=N', async () => {
    const host = await fake({ cgroupMemoryMax: String(2 * 2 ** 30) });
    const error = await failure(host, { RAM_SIZE: '4G' });
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe('RAM_SIZE is 4G, more than the 2G of memory available to the container');
    expect(error.hint).toContain('RAM_CHECK=N');
    const { ctx } = makeContext({ RAM_SIZE: '4G', RAM_CHECK: 'N' }, host.root);
    await expect(preflight(ctx, host.deps)).resolves.toMatchObject({ memoryAvailableBytes: 2 * 2 ** 30 });
  });

  it('several problems at once keep each message and fix', async () => {
    const host = await fake({ kvm: false, netAdmin: false });
    const error = await failure(host);
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('KVM is not available');
    expect(error.message).toContain('NET_ADMIN');
    expect(error.hint).toContain('--device /dev/kvm');
    expect(error.hint).toContain('--cap-add NET_ADMIN');
  });
});

describe('checkHost', () => {
  const good: HostFacts = {
    kvm: { present: true, usable: true, problem: undefined },
    cpuVirtualization: 'vmx',
    tun: true,
    vhostNet: false,
    netAdmin: true,
    ipForward: true,
    iptablesBackend: 'nft',
    memoryAvailableBytes: 8 * 2 ** 30,
    cpusAvailable: 2,
    programs: { passt: true, swtpm: true, dnsmasq: true },
    netns: { netInode: 4026532301, pidInode: 4026532300, pid1NetInode: 4026532301, links: [{ name: 'eth0', kind: 'veth', parentBus: undefined }] },
  };
  const config = { kvm: true, network: 'tap', ramSize: 4 * 2 ** 30, ramCheck: true, hostNetwork: false } as const;

  it('finds nothing on a good host', () => {
    expect(checkHost(config, good)).toEqual([]);
  });

  it('skips the tap checks for NETWORK=user and none, and the KVM check for KVM=N', () => {
    const bad: HostFacts = { ...good, kvm: { present: false, usable: false, problem: 'x' }, tun: false, netAdmin: false, ipForward: false, iptablesBackend: undefined };
    expect(checkHost({ ...config, kvm: false, network: 'user' }, bad)).toEqual([]);
    expect(checkHost({ ...config, kvm: false, network: 'none' }, bad)).toEqual([]);
  });

  it('names missing iptables and dnsmasq for NETWORK=tap', () => {
    const messages = checkHost(config, { ...good, iptablesBackend: undefined, programs: { ...good.programs, dnsmasq: false } }).map((e) => e.message);
    expect(messages).toEqual([
      'NETWORK=tap needs iptables, which is missing or does not run',
      'NETWORK=tap needs dnsmasq to give the guest its address, and it is not installed',
    ]);
  });

  it('mentions missing CPU virtualization flags in the KVM hint', () => {
    const [error] = checkHost(config, { ...good, kvm: { present: false, usable: false, problem: '/dev/kvm does not exist' }, cpuVirtualization: undefined });
    expect(error?.hint).toContain('neither vmx nor svm');
  });
});

describe('preflight under rootless Podman', () => {
  const podman = { containerEnv: 'engine="podman-4.3.1"\nrootless=1\n', uidMap: '0 1000 1\n1 100000 65536\n' };
  it('gives NETWORK=tap without tun and NET_ADMIN user-mode networking instead of exit 3', async () => {
    const host = await fake({ ...podman, tun: false, mknodWorks: false, netAdmin: false });
    const { ctx } = makeContext({}, host.root);
    const facts = await preflight(ctx, host.deps);
    expect(facts.networkMode).toBe('user');
    expect(facts.engine).toMatchObject({ engine: 'podman', rootless: true });
  });
  it('gives user mode even when the rootless container has what tap needs (its published ports arrive on loopback), keeps LAN mode, and exit 3 stays for rootful engines', async () => {
    const able = await fake(podman);
    expect((await preflight(makeContext({}, able.root).ctx, able.deps)).networkMode).toBe('user');
    expect((await preflight(makeContext({ DHCP: 'Y' }, able.root).ctx, able.deps)).networkMode).toBeUndefined();
    const rootful = await fake({ tun: false, mknodWorks: false, netAdmin: false });
    expect((await failure(rootful)).message).toMatch(/NET_ADMIN|net\/tun/);
  });
});

describe('preflight with DHCP=Y', () => {
  it('needs NET_ADMIN but not tun, IP forwarding, iptables or dnsmasq (a macvtap on the uplink)', async () => {
    const host = await fake({ tun: false, mknodWorks: false, ipForward: false, ipForwardReadOnly: true, iptables: undefined });
    const facts = await preflight(makeContext({ DHCP: 'Y' }, host.root).ctx, host.deps);
    expect(facts.tun).toBe(false);
    const noAdmin = await fake({ netAdmin: false });
    expect((await failure(noAdmin, { DHCP: 'Y' })).message).toMatch(/NET_ADMIN/);
  });
});
