#!/usr/bin/env node
/**
 * Cloning a golden base for N VMs: windock's copy-on-write overlay (the default for a local
 * BOOT disk image) versus a full independent copy (BOOT_COPY=Y), both through prepareStorage,
 * for 1 and 6 clones. Prints wall time and the bytes the clones use on disk (du), next to a
 * plain `cp --sparse=always` baseline.
 *
 *   npm run build && node bench/clone.mjs [baseMiB=1024]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

const { resolveConfig } = await import('../dist/config/resolve.js');
const { createLogger } = await import('../dist/core/log.js');
const { StateFile } = await import('../dist/state/state-file.js');
const { StatusStore } = await import('../dist/supervisor/status.js');
const { prepareStorage } = await import('../dist/storage/prepare.js');

const baseMiB = Number(process.argv[2] ?? 1024);
const root = mkdtempSync(join(tmpdir(), 'windock-bench-clone-'));
const HOST = { kvm: { present: false, usable: false, problem: 'bench' }, cpuVirtualization: undefined, tun: false, vhostNet: false, netAdmin: false, ipForward: false, iptablesBackend: undefined, memoryAvailableBytes: 2 ** 31, cpusAvailable: 2, programs: { passt: false, swtpm: false, dnsmasq: false } };
const sink = new Writable({ write(_c, _e, done) { done(); } });

function du(path) {
  return Number(execFileSync('du', ['-s', '-B1', path], { encoding: 'utf8' }).split('\t')[0]);
}

async function windockClone(storage, base, copy) {
  const config = resolveConfig({ STORAGE: storage, RUN_DIR: join(root, 'run'), BOOT: base, BOOT_COPY: copy ? 'Y' : 'N', KVM: 'N' });
  const ctx = { config, log: createLogger({ level: 'info', pretty: false, destination: sink }), status: new StatusStore(), state: new StateFile(storage), signal: new AbortController().signal };
  await prepareStorage(ctx, HOST);
}

try {
  // A base with real data: the first 3/4 random (incompressible, allocated), the rest a hole.
  const raw = join(root, 'base.raw');
  const fd = openSync(raw, 'w');
  const chunk = randomBytes(2 ** 20);
  for (let i = 0; i < (baseMiB * 3) / 4; i++) writeSync(fd, chunk, 0, chunk.length, i * 2 ** 20);
  closeSync(fd);
  execFileSync('truncate', ['-s', `${baseMiB}M`, raw]);
  const base = join(root, 'base.qcow2');
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, base]);
  rmSync(raw);
  execFileSync('sync');
  console.log(`base: ${base} (${baseMiB} MiB virtual, ${(du(base) / 2 ** 20).toFixed(0)} MiB allocated)`);
  console.log('method'.padEnd(30), 'clones', 'time ms'.padStart(9), 'disk used MiB'.padStart(14));
  const methods = [
    ['overlay (default)', (dir) => windockClone(dir, base, false)],
    ['full copy (BOOT_COPY=Y)', (dir) => windockClone(dir, base, true)],
    ['cp --sparse=always (baseline)', async (dir) => execFileSync('cp', ['--sparse=always', base, join(dir, 'data.qcow2')])],
  ];
  for (const count of [1, 6]) {
    for (const [name, clone] of methods) {
      const dirs = Array.from({ length: count }, (_, i) => join(root, `${name.split(' ')[0]}-${count}-${i}`));
      for (const dir of dirs) mkdirSync(dir);
      execFileSync('sync');
      const t0 = performance.now();
      for (const dir of dirs) await clone(dir);
      execFileSync('sync');
      const ms = performance.now() - t0;
      const used = dirs.reduce((sum, dir) => sum + du(dir), 0);
      console.log(name.padEnd(30), String(count).padStart(6), ms.toFixed(0).padStart(9), (used / 2 ** 20).toFixed(1).padStart(14));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
