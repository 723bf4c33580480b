/**
 * Decides, from the configuration and the probed facts alone, which host problems remain. Pure:
 * each problem is an `AppError('host', …)` (exit 3) naming what is missing and the exact
 * `docker run` fix, so that a user never has to guess which flag their container lacks.
 */
import type { Config } from '../config/options.js';
import { formatSize } from '../config/parsers.js';
import { AppError } from '../core/errors.js';
import type { HostFacts, NetnsFacts } from './facts.js';

export type HostCheckConfig = Pick<Config, 'kvm' | 'network' | 'ramSize' | 'ramCheck' | 'hostNetwork'> & { dhcp?: boolean };

export function checkHost(config: HostCheckConfig, facts: HostFacts): AppError[] {
  const problems: AppError[] = [];
  if (config.kvm && !facts.kvm.usable) {
    const why = facts.kvm.problem ?? '/dev/kvm is not usable';
    const cpu =
      facts.cpuVirtualization === undefined
        ? ' The CPU lists neither vmx nor svm: enable virtualization (VT-x/AMD-V, or nested virtualization for a VM host).'
        : '';
    problems.push(
      new AppError('host', `KVM is not available: ${why}`, {
        hint: `Pass the device with \`docker run --device /dev/kvm\` (compose: devices: ["/dev/kvm"]), or set KVM=N to accept a slow guest under software emulation.${cpu}`,
        details: { check: 'kvm', kvm: facts.kvm, cpuVirtualization: facts.cpuVirtualization },
      }),
    );
  }
  if (config.network === 'tap') {
    const hostNetns = checkNetworkNamespace(config, facts.netns);
    if (hostNetns) problems.push(hostNetns);
    // DHCP=Y (network/lan.ts) uses a macvtap on the uplink: no tun, forwarding, NAT or dnsmasq.
    const lan = config.dhcp === true;
    if (!facts.tun && !lan) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs /dev/net/tun, which is missing and could not be created', {
          hint: 'Pass the device with `docker run --device /dev/net/tun`, or set NETWORK=user (no privileges needed).',
          details: { check: 'tun' },
        }),
      );
    }
    if (!facts.netAdmin) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs the NET_ADMIN capability, which the container lacks', {
          hint: 'Add it with `docker run --cap-add NET_ADMIN` (compose: cap_add: [NET_ADMIN]), or set NETWORK=user (no privileges needed).',
          details: { check: 'net-admin' },
        }),
      );
    }
    if (!facts.ipForward && !lan) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs IP forwarding: net.ipv4.ip_forward is 0 and could not be set to 1', {
          hint: 'Set it with `docker run --sysctl net.ipv4.ip_forward=1` (compose: sysctls: [net.ipv4.ip_forward=1]), or set NETWORK=user.',
          details: { check: 'ip-forward' },
        }),
      );
    }
    if (facts.iptablesBackend === undefined && !lan) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs iptables, which is missing or does not run', {
          hint: 'Install the iptables package in the image, or set NETWORK=user.',
          details: { check: 'iptables' },
        }),
      );
    }
    if (!facts.programs.dnsmasq && !lan) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs dnsmasq to give the guest its address, and it is not installed', {
          hint: 'Install the dnsmasq-base package in the image, or set NETWORK=user.',
          details: { check: 'dnsmasq' },
        }),
      );
    }
  }
  if (config.ramCheck && facts.memoryAvailableBytes > 0 && config.ramSize > facts.memoryAvailableBytes) {
    problems.push(
      new AppError(
        'host',
        `RAM_SIZE is ${formatSize(config.ramSize)}, more than the ${formatSize(facts.memoryAvailableBytes)} of memory available to the container`,
        {
          hint: 'Lower RAM_SIZE, give the container more memory (docker run --memory), or set RAM_CHECK=N to start anyway.',
          details: { check: 'memory', ramSize: config.ramSize, memoryAvailableBytes: facts.memoryAvailableBytes },
        },
      ),
    );
  }
  return problems;
}

/**
 * include/linux/proc_ns.h: the kernel's initial namespaces have fixed inode numbers —
 * PROC_PID_INIT_INO since Linux 3.8, PROC_NET_INIT_INO in recent kernels. Every other namespace
 * gets a dynamic number from 0xF0000000 up (PROC_DYNAMIC_FIRST), so equality is exact.
 */
export const INIT_PID_NS_INODE = 0xeffffffc;
export const INIT_NET_NS_INODE = 0xeffffff9;

/** Interfaces that only a host's namespace holds: container engines' bridges, cluster overlays. */
const HOST_ONLY_LINKS = /^(docker0|podman\d+|cni\d+|cbr0|kube-bridge|kube-ipvs0|cilium_host|cilium_net|flannel\.\d+|vxlan\.calico|weave|nodelocaldns|virbr\d+|lxcbr0|lxdbr0)$/;

/**
 * Why the network namespace looks like the host's own rather than the container's (empty: it does
 * not). With NETWORK=tap windock DNATs every port of its namespace to the guest, which inside a
 * container is the container's ports and on the host (`docker run --network host`, Kubernetes
 * `hostNetwork: true`) every port of the machine. No single signal is both exact and available
 * everywhere, so these are combined:
 *
 * 1. the namespace is the kernel's initial one (its fixed inode) — exact, on recent kernels;
 * 2. our PID namespace is the initial one and PID 1 (the host's init) shares our network
 *    namespace — exact, but only with `--pid host` or no container at all, and only when PID 1 may
 *    be inspected. Inside a container's own PID namespace PID 1 is tini, which tells nothing;
 * 3. an interface backed by hardware (`parentbus`: pci, virtio, vmbus, xen…): a container's own
 *    namespace normally holds veth, macvlan or ipvlan links only;
 * 4. an interface only a host has: docker0, cni0, flannel.1, cilium_host, kube-ipvs0, ….
 *
 * Limits: a host that is itself a VM or system container whose network is virtual (a bridge of
 * veths) and runs no container engine shows none of 3–4 on an older kernel; a pod given a
 * hardware interface (SR-IOV, a passed-through NIC), or Docker-in-Docker with its own docker0,
 * shows 3 or 4 in its own namespace. HOST_NETWORK=Y is the way out of a false alarm.
 */
export function hostNetnsEvidence(ns: NetnsFacts): string[] {
  const evidence: string[] = [];
  if (ns.netInode === INIT_NET_NS_INODE) evidence.push(`it is the kernel's initial network namespace (net:[${ns.netInode}])`);
  else if (ns.pidInode === INIT_PID_NS_INODE && ns.netInode !== undefined && ns.pid1NetInode === ns.netInode) {
    evidence.push('it is the network namespace of the host\'s init (PID 1)');
  }
  for (const link of ns.links ?? []) {
    if (link.parentBus) evidence.push(`${link.name} is a hardware network device (${link.parentBus} bus)`);
    else if (HOST_ONLY_LINKS.test(link.name)) evidence.push(`${link.name} is a container engine's or cluster network's own interface`);
  }
  return evidence;
}

/** NETWORK=tap in what looks like the host's network namespace, unless HOST_NETWORK=Y. */
export function checkNetworkNamespace(config: Pick<Config, 'network' | 'hostNetwork'>, ns: NetnsFacts): AppError | undefined {
  if (config.network !== 'tap' || config.hostNetwork) return undefined;
  const evidence = hostNetnsEvidence(ns);
  if (evidence.length === 0) return undefined;
  return new AppError('host', `NETWORK=tap would forward every port of this network namespace to the guest, and it looks like the host's own: ${evidence.join('; ')}`, {
    hint:
      'Drop host networking (docker run --network host, Kubernetes hostNetwork: true) and publish the ports instead (-p 3389:3389/tcp -p 3389:3389/udp -p 8006:8006), or set NETWORK=user, or set HOST_NETWORK=Y if the guest is meant to take every port of this namespace.',
    details: { check: 'host-network', evidence },
  });
}

/** One error for all problems: each keeps its own sentence and fix. */
export function combineHostProblems(problems: AppError[]): AppError | undefined {
  if (problems.length <= 1) return problems[0];
  return new AppError('host', problems.map((p) => p.message).join('; '), {
    hint: problems.map((p) => p.hint).filter(Boolean).join(' '),
    details: { problems: problems.map((p) => ({ message: p.message, ...p.details })) },
  });
}

