/**
 * Decides, from the configuration and the probed facts alone, which host problems remain. Pure:
 * each problem is an `AppError('host', …)` (exit 3) naming what is missing and the exact
 * `docker run` fix, so that a user never has to guess which flag their container lacks.
 */
import type { Config } from '../config/options.js';
import { formatSize } from '../config/parsers.js';
import { AppError } from '../errors.js';
import type { HostFacts } from './facts.js';

export type HostCheckConfig = Pick<Config, 'kvm' | 'network' | 'ramSize' | 'ramCheck'>;

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
    if (!facts.tun) {
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
    if (!facts.ipForward) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs IP forwarding: net.ipv4.ip_forward is 0 and could not be set to 1', {
          hint: 'Set it with `docker run --sysctl net.ipv4.ip_forward=1` (compose: sysctls: [net.ipv4.ip_forward=1]), or set NETWORK=user.',
          details: { check: 'ip-forward' },
        }),
      );
    }
    if (facts.iptablesBackend === undefined) {
      problems.push(
        new AppError('host', 'NETWORK=tap needs iptables, which is missing or does not run', {
          hint: 'Install the iptables package in the image, or set NETWORK=user.',
          details: { check: 'iptables' },
        }),
      );
    }
    if (!facts.programs.dnsmasq) {
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

/** One error for all problems: each keeps its own sentence and fix. */
export function combineHostProblems(problems: AppError[]): AppError | undefined {
  if (problems.length <= 1) return problems[0];
  return new AppError('host', problems.map((p) => p.message).join('; '), {
    hint: problems.map((p) => p.hint).filter(Boolean).join(' '),
    details: { problems: problems.map((p) => ({ message: p.message, ...p.details })) },
  });
}

