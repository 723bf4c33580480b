/**
 * Settings that read each other, once every value is parsed: pure, each adjustment a warning
 * (the combination is accepted, as dockur accepts it, but the log says what windock does).
 */
import type { Config } from './options.js';

export function reconcile(input: Config, warn: (message: string) => void): Config {
  const config = { ...input };
  // SMP names the vCPU count itself (qemus config.sh builds -smp from CPU_CORES only when unset).
  if (config.smp && config.smp.cpus !== config.cpuCores) config.cpuCores = config.smp.cpus;
  // Linux native AIO needs O_DIRECT: qemus disk.sh moves buffered cache modes to threads.
  if (config.diskIo === 'native' && config.diskCache !== 'none' && config.diskCache !== 'directsync') {
    warn(`DISK_IO=native needs DISK_CACHE=none or directsync (direct I/O), got ${config.diskCache ?? 'the default writeback'}; using DISK_IO=threads`);
    config.diskIo = 'threads';
  }
  if (config.hv === true && !config.kvm) warn('HV=Y: Hyper-V enlightenments need KVM; with KVM=N the guest runs without them');
  if (config.mtu !== undefined && config.adapter !== undefined && config.adapter !== 'virtio-net-pci') {
    warn(`MTU=${config.mtu}: only virtio-net-pci tells the guest its MTU, ADAPTER is ${config.adapter}; set the MTU inside the guest`);
  }
  return config;
}
