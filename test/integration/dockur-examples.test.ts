/**
 * Every environment example of dockur/windows' readme.md and compose.yml (and qemus/qemu's readme
 * where it adds settings), copied here as data, through the real `windock config`: each exits 0
 * and resolves to the meaning dockur documents. Settings windock does not honour answer with a
 * warning on stderr that says what windock does instead, never with silence.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { defaultProbeDeps, probeCapacity } from '../../src/host/probe.js';
import { CLI } from '../fixtures/windock.js';

const GiB = 2 ** 30;

interface Example {
  source: string;
  env: Record<string, string>;
  /** Resolved values `windock config` must print (a subset of its JSON). */
  expect: (cpus: number) => Record<string, unknown>;
  /** Warnings (stderr) that must appear; any other warning fails the example. */
  warnings?: string[];
}

const EXAMPLES: Example[] = [
  { source: 'compose.yml, readme "Docker Compose"', env: { VERSION: '11' }, expect: () => ({ version: '11', ramSize: 4 * GiB, cpuCores: 2, diskSize: 64 * GiB, network: 'tap' }) },
  { source: 'readme "How do I select the Windows version?"', env: { VERSION: '10' }, expect: () => ({ version: '10' }) },
  { source: 'readme "How do I change the size of the disk?"', env: { DISK_SIZE: '256G' }, expect: () => ({ diskSize: 256 * GiB }) },
  { source: 'readme "How do I change the amount of CPU or RAM?"', env: { RAM_SIZE: '8G', CPU_CORES: '4' }, expect: (cpus) => ({ ramSize: 8 * GiB, cpuCores: Math.min(4, cpus) }) },
  {
    source: 'readme "How do I enable audio?"', env: { AUDIO: 'Y' }, expect: () => ({}),
    warnings: ["AUDIO=Y: windock streams no audio to the viewer; RDP carries the guest's sound"],
  },
  { source: 'readme "How do I configure the username and password?"', env: { USERNAME: 'bill', PASSWORD: 'gates' }, expect: () => ({ username: 'bill', password: '[redacted]' }) },
  {
    source: 'readme "How do I join an Active Directory domain?"',
    env: { DOMAIN: 'example.com', DOMAIN_OU: 'OU=Virtual Machines,OU=Servers,DC=example,DC=com' },
    expect: () => ({ domain: 'example.com', domainOu: 'OU=Virtual Machines,OU=Servers,DC=example,DC=com' }),
  },
  { source: 'readme "How do I select the Windows language?"', env: { LANGUAGE: 'French' }, expect: () => ({ language: 'French' }) },
  { source: 'readme "How do I select the keyboard layout?"', env: { REGION: 'en-US', KEYBOARD: 'en-US' }, expect: () => ({ region: 'en-US', keyboard: 'en-US' }) },
  { source: 'readme "How do I install a custom image?"', env: { VERSION: 'https://example.com/win.iso' }, expect: () => ({ version: 'https://example.com/win.iso' }) },
  {
    source: 'readme "How do I run a command after installation?"',
    env: { COMMAND: 'reg add "HKLM\\Software\\Example" /v Enabled /t REG_DWORD /d 1 /f' },
    expect: () => ({ command: 'reg add "HKLM\\Software\\Example" /v Enabled /t REG_DWORD /d 1 /f' }),
  },
  // LAN mode's meaning belongs to the DHCP row (another part of issue 13); here: accepted.
  { source: 'readme "How can Windows acquire an IP address from my router?"', env: { DHCP: 'Y' }, expect: () => ({}) },
  { source: 'readme "How do I add multiple disks?"', env: { DISK2_SIZE: '32G', DISK3_SIZE: '64G' }, expect: () => ({ disk2Size: 32 * GiB, disk3Size: 64 * GiB }) },
  {
    source: 'readme "How do I pass through a USB device?"',
    env: { ARGUMENTS: '-device usb-host,vendorid=0x1234,productid=0x1234' },
    expect: () => ({ arguments: ['-device', 'usb-host,vendorid=0x1234,productid=0x1234'], usb: 'qemu-xhci' }),
  },
  // qemus/qemu readme
  { source: 'qemus readme "How do I boot Windows?" / legacy BIOS', env: { BOOT_MODE: 'legacy' }, expect: () => ({ bootMode: 'legacy' }) },
  { source: 'qemus readme "How do I boot without VirtIO drivers?"', env: { DISK_TYPE: 'blk' }, expect: () => ({ diskType: 'blk' }) },
  { source: 'qemus readme "... set the value to ide"', env: { DISK_TYPE: 'ide' }, expect: () => ({ diskType: 'sata' }) },
  { source: 'qemus readme "How do I expose network ports?"', env: { USER_PORTS: '22,80,443' }, expect: () => ({ userPorts: [22, 80, 443].map((p) => ({ from: p, to: p, protocol: 'both' })) }) },
  // docs/environment.md: the values its table names as examples
  { source: 'environment.md CPU_CORES/RAM_SIZE', env: { CPU_CORES: 'half', RAM_SIZE: 'half' }, expect: (cpus) => ({ cpuCores: Math.max(1, Math.floor(cpus / 2)) }) },
  { source: 'environment.md CPU_CORES max', env: { CPU_CORES: 'max', RAM_SIZE: '2' }, expect: (cpus) => ({ cpuCores: cpus, ramSize: 2 * GiB }) },
  { source: 'environment.md NETWORK', env: { NETWORK: 'nat' }, expect: () => ({ network: 'tap' }) },
  { source: 'environment.md NETWORK user', env: { NETWORK: 'user' }, expect: () => ({ network: 'user' }) },
  { source: 'environment.md NETWORK N', env: { NETWORK: 'N' }, expect: () => ({ network: 'none' }) },
  { source: 'environment.md BOOT_MODE', env: { BOOT_MODE: 'windows_secure' }, expect: () => ({ bootMode: 'secure' }) },
  { source: 'environment.md BOOT_MODE legacy', env: { BOOT_MODE: 'windows_legacy' }, expect: () => ({ bootMode: 'legacy' }) },
  { source: 'environment.md DISK_*', env: { DISK_CACHE: 'writeback', DISK_IO: 'threads', DISK_DISCARD: 'unmap', DISK_FMT: 'raw', ALLOCATE: 'N' }, expect: () => ({ diskCache: 'writeback', diskIo: 'threads', diskDiscard: 'unmap', diskFmt: 'raw', allocate: false }) },
  { source: 'environment.md CPU', env: { CPU_MODEL: 'host', VMX: 'N', HV: 'Y', MACHINE: 'q35' }, expect: () => ({ cpuModel: 'host', vmx: false, hv: true, machine: 'q35' }) },
  { source: 'environment.md BALLOONING', env: { BALLOONING: 'Y' }, expect: () => ({ ballooning: true }) },
  { source: 'environment.md TIMEOUT, HOST', env: { TIMEOUT: '105', HOST: 'WINBOX' }, expect: () => ({ shutdownTimeout: 105, computerName: 'WINBOX' }) },
];

const capacity = await probeCapacity(defaultProbeDeps());

async function config(env: Record<string, string>): Promise<{ code: number; json: Record<string, unknown>; warnings: string[]; stderr: string }> {
  const result = await promisify(execFile)(process.execPath, [CLI, 'config'], { env: { PATH: process.env.PATH, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  const warnings = result.stderr.split('\n').filter((l) => l.startsWith('windock: warning: ')).map((l) => l.slice('windock: warning: '.length));
  return { code: result.code, json: result.code === 0 ? (JSON.parse(result.stdout) as Record<string, unknown>) : {}, warnings, stderr: result.stderr };
}

describe('dockur examples through windock config', () => {
  it.each(EXAMPLES.map((e) => [e.source, e] as const))('%s', async (_source, example) => {
    const out = await config(example.env);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject(example.expect(capacity.cpus));
    // CPU_CORES above the host is limited with a warning (init.sh checkCores); expected on a small host.
    const others = out.warnings.filter((w) => !w.startsWith('CPU_CORES='));
    expect(others, out.stderr).toEqual(example.warnings ?? []);
  });
});
