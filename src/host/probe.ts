/**
 * Reads the host (the container) into `HostFacts`. Every path root (/dev, /proc, /sys, /etc/group)
 * and every system call that a fake tree cannot imitate (device numbers, opening a device, running
 * a program) comes in through `ProbeDeps`, so unit tests probe a temp directory.
 */
import { constants as fsConstants } from 'node:fs';
import { access, open, readFile, readlink, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { runProgram, shellStatus } from '../process/run-program.js';
import type { HostCapacity } from '../config/parsers.js';
import type { HostFacts, KvmFacts, NetnsFacts } from './facts.js';

/** Linux device numbers, Documentation/admin-guide/devices.txt: misc major 10. */
export const KVM_DEVICE = { major: 10, minor: 232 } as const;
export const TUN_DEVICE = { major: 10, minor: 200 } as const;
/** include/uapi/linux/capability.h: CAP_NET_ADMIN is capability number 12. */
export const CAP_NET_ADMIN = 12;

export interface DeviceInfo {
  charDevice: boolean;
  major: number;
  minor: number;
  uid: number;
  gid: number;
  mode: number;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with an argv array (never a shell); never throws for a non-zero exit. */
export type RunProgram = (file: string, args: string[]) => Promise<RunResult>;

export interface ProbeDeps {
  devDir: string;
  procDir: string;
  sysDir: string;
  /** Directories searched for helper programs (the caller passes PATH split on ':'). */
  programDirs: string[];
  statDevice(path: string): Promise<DeviceInfo | undefined>;
  /** Resolves when the path opens read-write; rejects with the errno error otherwise. */
  openReadWrite(path: string): Promise<void>;
  run: RunProgram;
  cpuCount(): number;
}

export const DEFAULT_PROGRAM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export const realRun: RunProgram = async (file, args) => {
  const result = await runProgram([file, ...args], { timeoutMs: 10_000 });
  return { exitCode: shellStatus(result), stdout: result.stdout, stderr: result.stderr };
};

export async function realStatDevice(path: string): Promise<DeviceInfo | undefined> {
  try {
    const s = await stat(path);
    // glibc's gnu_dev_major/minor encoding of st_rdev (sys/sysmacros.h).
    const dev = BigInt(s.rdev);
    const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
    const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
    return { charDevice: s.isCharacterDevice(), major, minor, uid: s.uid, gid: s.gid, mode: s.mode & 0o7777 };
  } catch {
    return undefined;
  }
}

export async function realOpenReadWrite(path: string): Promise<void> {
  // Node opens every file with O_CLOEXEC already: QEMU does not inherit this probe's fd.
  const handle = await open(path, fsConstants.O_RDWR);
  await handle.close();
}

export function defaultProbeDeps(overrides: Partial<ProbeDeps> = {}): ProbeDeps {
  return {
    devDir: '/dev',
    procDir: '/proc',
    sysDir: '/sys',
    programDirs: DEFAULT_PROGRAM_DIRS,
    statDevice: realStatDevice,
    openReadWrite: realOpenReadWrite,
    run: realRun,
    cpuCount: availableParallelism,
    ...overrides,
  };
}

export async function probeHost(deps: ProbeDeps): Promise<HostFacts> {
  const [kvm, cpuVirtualization, tun, vhostNet, netAdmin, ipForward, iptablesBackend, memory, cpus, programs, netns] =
    await Promise.all([
      probeKvm(deps),
      probeCpuVirtualization(deps),
      probeTun(deps),
      probeDevicePath(deps, join(deps.devDir, 'vhost-net')),
      probeNetAdmin(deps),
      probeIpForward(deps),
      probeIptablesBackend(deps),
      probeMemory(deps),
      probeCpus(deps),
      probePrograms(deps),
      probeNetns(deps),
    ]);
  return {
    kvm,
    cpuVirtualization,
    tun,
    vhostNet,
    netAdmin,
    ipForward,
    iptablesBackend,
    memoryAvailableBytes: memory,
    cpusAvailable: cpus,
    programs,
    netns,
  };
}

export async function probeKvm(deps: ProbeDeps): Promise<KvmFacts> {
  const path = join(deps.devDir, 'kvm');
  const info = await deps.statDevice(path);
  if (!info) return { present: false, usable: false, problem: `${path} does not exist` };
  if (!info.charDevice || info.major !== KVM_DEVICE.major || info.minor !== KVM_DEVICE.minor) {
    return {
      present: false,
      usable: false,
      problem: `${path} is not the KVM character device 10:232 (found ${info.charDevice ? `char ${info.major}:${info.minor}` : 'not a character device'})`,
    };
  }
  try {
    await deps.openReadWrite(path);
    return { present: true, usable: true, problem: undefined };
  } catch (error) {
    return { present: true, usable: false, problem: `${path} cannot be opened read-write: ${(error as Error).message}` };
  }
}

async function probeCpuVirtualization(deps: ProbeDeps): Promise<HostFacts['cpuVirtualization']> {
  const text = await readText(join(deps.procDir, 'cpuinfo'));
  const flags = /^flags\s*:(.*)$/m.exec(text ?? '')?.[1]?.split(/\s+/) ?? [];
  if (flags.includes('vmx')) return 'vmx';
  if (flags.includes('svm')) return 'svm';
  return undefined;
}

export async function probeTun(deps: ProbeDeps): Promise<boolean> {
  const info = await deps.statDevice(join(deps.devDir, 'net', 'tun'));
  return info !== undefined && info.charDevice && info.major === TUN_DEVICE.major && info.minor === TUN_DEVICE.minor;
}

async function probeDevicePath(deps: ProbeDeps, path: string): Promise<boolean> {
  const info = await deps.statDevice(path);
  return info?.charDevice === true;
}

async function probeNetAdmin(deps: ProbeDeps): Promise<boolean> {
  const text = await readText(join(deps.procDir, 'self', 'status'));
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(text ?? '')?.[1];
  if (!hex) return false;
  return ((BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
}

export async function probeIpForward(deps: ProbeDeps): Promise<boolean> {
  return (await readText(ipForwardPath(deps)))?.trim() === '1';
}

export function ipForwardPath(deps: Pick<ProbeDeps, 'procDir'>): string {
  return join(deps.procDir, 'sys', 'net', 'ipv4', 'ip_forward');
}

async function probeIptablesBackend(deps: ProbeDeps): Promise<HostFacts['iptablesBackend']> {
  try {
    // iptables >= 1.8 prints "iptables v1.8.9 (nf_tables)" or "(legacy)".
    const { exitCode, stdout } = await deps.run('iptables', ['--version']);
    if (exitCode !== 0) return undefined;
    if (stdout.includes('nf_tables')) return 'nft';
    if (stdout.includes('legacy')) return 'legacy';
    return 'legacy';
  } catch {
    return undefined;
  }
}

/** What dockur's `half`/`max` read against (RAM_SIZE, CPU_CORES): cheap reads of /proc and /sys only. */
export async function probeCapacity(deps: ProbeDeps): Promise<HostCapacity> {
  const [memoryBytes, cpus] = await Promise.all([probeMemory(deps), probeCpus(deps)]);
  return { memoryBytes, cpus };
}

/** The cgroup limit (v2 memory.max, else v1 limit_in_bytes) or MemAvailable, whichever is lower. */
async function probeMemory(deps: ProbeDeps): Promise<number> {
  const meminfo = await readText(join(deps.procDir, 'meminfo'));
  const availableKiB = /^MemAvailable:\s*(\d+)\s*kB/m.exec(meminfo ?? '')?.[1];
  const available = availableKiB === undefined ? Number.POSITIVE_INFINITY : Number(availableKiB) * 1024;
  const cgroup = await readCgroupMemoryLimit(deps);
  const lowest = Math.min(available, cgroup ?? Number.POSITIVE_INFINITY);
  return Number.isFinite(lowest) ? lowest : 0;
}

async function readCgroupMemoryLimit(deps: ProbeDeps): Promise<number | undefined> {
  const v2 = (await readText(join(deps.sysDir, 'fs', 'cgroup', 'memory.max')))?.trim();
  if (v2 !== undefined) return /^\d+$/.test(v2) ? Number(v2) : undefined; // "max" = no limit
  const v1 = (await readText(join(deps.sysDir, 'fs', 'cgroup', 'memory', 'memory.limit_in_bytes')))?.trim();
  // cgroup v1 reports "no limit" as a huge page-rounded number (PAGE_COUNTER_MAX * page size).
  if (v1 !== undefined && /^\d+$/.test(v1) && Number(v1) < 2 ** 60) return Number(v1);
  return undefined;
}

/** cgroup v2 cpu.max "quota period" (or "max period") bounds the CPU count nproc reports. */
async function probeCpus(deps: ProbeDeps): Promise<number> {
  const online = deps.cpuCount();
  const text = (await readText(join(deps.sysDir, 'fs', 'cgroup', 'cpu.max')))?.trim();
  const match = /^(\d+)\s+(\d+)$/.exec(text ?? '');
  if (!match) return online;
  const quota = Number(match[1]) / Number(match[2]);
  return Math.max(1, Math.min(online, Math.ceil(quota)));
}

async function probePrograms(deps: ProbeDeps): Promise<HostFacts['programs']> {
  const [passt, swtpm, dnsmasq] = await Promise.all(
    ['passt', 'swtpm', 'dnsmasq'].map((name) => findProgram(deps.programDirs, name)),
  );
  return { passt: passt !== undefined, swtpm: swtpm !== undefined, dnsmasq: dnsmasq !== undefined };
}

export async function findProgram(dirs: string[], name: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      await access(path, fsConstants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The namespace links and interfaces that tell a container's network namespace from the host's (check.ts). */
export async function probeNetns(deps: ProbeDeps): Promise<NetnsFacts> {
  const inode = async (path: string): Promise<number | undefined> => {
    const link = await readlink(path).catch(() => undefined);
    const match = /^\w+:\[(\d+)\]$/.exec(link ?? '');
    return match ? Number(match[1]) : undefined;
  };
  const [netInode, pidInode, pid1NetInode, links] = await Promise.all([
    inode(join(deps.procDir, 'self', 'ns', 'net')),
    inode(join(deps.procDir, 'self', 'ns', 'pid')),
    inode(join(deps.procDir, '1', 'ns', 'net')),
    probeLinks(deps),
  ]);
  return { netInode, pidInode, pid1NetInode, links };
}

/**
 * Links from rtnetlink via `ip -details -json link show` (iproute2 ≥ 4.13), not /sys/class/net:
 * sysfs shows the namespace of whoever mounted it, rtnetlink always the caller's own.
 * `parentbus` (IFLA_PARENT_DEV_BUS_NAME, Linux 5.14) names the bus of a device backed by hardware.
 */
async function probeLinks(deps: ProbeDeps): Promise<NetnsFacts['links']> {
  try {
    const { exitCode, stdout } = await deps.run('ip', ['-details', '-json', 'link', 'show']);
    if (exitCode !== 0) return undefined;
    const parsed = JSON.parse(stdout) as { ifname?: unknown; parentbus?: unknown; linkinfo?: { info_kind?: unknown } }[];
    if (!Array.isArray(parsed)) return undefined;
    return parsed
      .filter((l) => typeof l.ifname === 'string')
      .map((l) => ({
        name: l.ifname as string,
        kind: typeof l.linkinfo?.info_kind === 'string' ? l.linkinfo.info_kind : undefined,
        parentBus: typeof l.parentbus === 'string' ? l.parentbus : undefined,
      }));
  } catch {
    return undefined;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
