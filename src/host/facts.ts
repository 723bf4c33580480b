/**
 * What windock knows about the host (the container) after the preflight probe. Pure data: the
 * probe fills it, pure checks decide from it, nothing here touches the system.
 */
import type { EngineFacts } from './engine.js';
export interface KvmFacts {
  /** /dev/kvm exists and is the KVM character device (10:232). */
  present: boolean;
  /** windock could open it read-write. */
  usable: boolean;
  /** Why not, in words, when not usable. */
  problem: string | undefined;
}

/** The network namespace windock runs in, for telling a container's own from the host's. */
export interface NetnsFacts {
  /** Inode of /proc/self/ns/net (`net:[N]`), undefined when unreadable. */
  netInode: number | undefined;
  /** Inode of /proc/self/ns/pid. */
  pidInode: number | undefined;
  /** Inode of /proc/1/ns/net; undefined when PID 1 is not ours to inspect (EACCES without CAP_SYS_PTRACE). */
  pid1NetInode: number | undefined;
  /** The namespace's interfaces (`ip -details -json link`), undefined when `ip` could not say. */
  links: { name: string; kind: string | undefined; parentBus: string | undefined }[] | undefined;
}

export interface HostFacts {
  kvm: KvmFacts;
  /** "vmx" (Intel VT-x), "svm" (AMD-V), or none listed in /proc/cpuinfo. */
  cpuVirtualization: 'vmx' | 'svm' | undefined;
  tun: boolean;
  vhostNet: boolean;
  netAdmin: boolean;
  ipForward: boolean;
  iptablesBackend: 'nft' | 'legacy' | undefined;
  /** Memory the container may use: the cgroup limit or MemAvailable, whichever is lower. */
  memoryAvailableBytes: number;
  cpusAvailable: number;
  /** Helper programs found on PATH. */
  programs: { passt: boolean; swtpm: boolean; dnsmasq: boolean };
  netns: NetnsFacts;
  /** The container engine (engine.ts); set by the preflight. */
  engine?: EngineFacts;
  /** The network mode to build when it differs from NETWORK (rootless Podman: user); set by the preflight. */
  networkMode?: 'tap' | 'user' | 'none';
}
