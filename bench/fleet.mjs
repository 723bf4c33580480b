#!/usr/bin/env node
/**
 * A fleet of N VMs from one golden base (default 20): each VM is a real windock (dist/cli.js) in
 * its own network namespace playing its container, with NETWORK=user, BOOT=the test guest's
 * qcow2, KVM=N (TCG), 128M of RAM, and no per-VM setting at all. Side by side with the baseline
 * of copying the base N times, it prints the time to make each clone, the disk they take (base +
 * Σ overlays vs N copies), the memory of each QEMU (RSS), the time until all N answer on 3389,
 * and whether every guest has its own MAC (read from its serial console).
 *
 *   npm run build && sudo node bench/fleet.mjs [N=20]      (root: network namespaces)
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { du, median, table, windockClone } from './lib.mjs';

const N = Number(process.argv[2] ?? 20);
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const GUEST = join(process.env.WINDOCK_GUEST_CACHE ?? join(homedir(), '.cache', 'windock-test-guest'), 'guest.qcow2');
const ANSWER_DEADLINE_MS = 20 * 60_000;
const STOP_DEADLINE_MS = 120_000;
const root = mkdtempSync(join(tmpdir(), 'windock-bench-fleet-'));
const tag = Math.random().toString(16).slice(2, 6);
const vms = [];
/** The same in the clone step and in every VM's environment (a start then reuses its overlay). */
const DISK_SETTINGS = { BOOT_MODE: 'legacy', DISK_SIZE: '64M' };

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/** One namespace per VM, as Docker gives each container its own: a veth pair on 10.197.i.0/24. */
function makeNamespace(i) {
  const name = `wdfleet-${tag}-${i}`;
  const outer = `wdf${tag}${i}`;
  const inner = `wdg${tag}${i}`;
  ip('netns', 'add', name);
  ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
  ip('link', 'set', inner, 'netns', name);
  ip('netns', 'exec', name, 'ip', 'link', 'set', inner, 'name', 'eth0');
  ip('addr', 'add', `10.197.${i + 1}.1/24`, 'dev', outer);
  ip('link', 'set', outer, 'up');
  ip('netns', 'exec', name, 'ip', 'addr', 'add', `10.197.${i + 1}.2/24`, 'dev', 'eth0');
  ip('netns', 'exec', name, 'ip', 'link', 'set', 'eth0', 'up');
  ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  ip('netns', 'exec', name, 'ip', 'route', 'add', 'default', 'via', `10.197.${i + 1}.1`);
  return { name, outer, address: `10.197.${i + 1}.2` };
}

function startVm(i, base) {
  const ns = makeNamespace(i);
  const dir = join(root, `vm${i}`);
  const env = {
    PATH: process.env.PATH,
    STORAGE: join(dir, 'storage'),
    RUN_DIR: join(dir, 'run'),
    BOOT: base,
    ...DISK_SETTINGS,
    KVM: 'N',
    RAM_SIZE: '128M',
    CPU_CORES: '1',
    NETWORK: 'user',
    WEB_AUTH: 'N',
    LOG_FORMAT: 'json',
    DEBUG: 'Y', // the serial console (the guest's MAC line) is logged at debug level
  };
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, CLI], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const vm = { i, ns, dir, child, qemuPid: undefined, mac: undefined, answer: undefined, answeredAt: undefined };
  child.stderr.resume();
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    if (line.msg === 'QEMU started') vm.qemuPid = line.pid;
    const mac = /windock-guest: nic \S+ mac=(\S+)/.exec(line.component === 'serial' ? line.msg : '');
    if (mac) vm.mac = mac[1];
  });
  vm.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  vms.push(vm);
  return vm;
}

function guestLine(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let data = '';
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(3_000, () => done(undefined));
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\n')) done(data.trim());
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/** RSS, and PSS (shared pages — QEMU's code, the page cache of the base — split among their users). */
function memoryOf(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)[1]) * 1024;
  return { rss: kib('Rss'), pss: kib('Pss') };
}

async function cleanup() {
  for (const vm of vms) vm.child.kill('SIGTERM');
  await Promise.race([Promise.all(vms.map((vm) => vm.exited)), new Promise((r) => setTimeout(r, STOP_DEADLINE_MS))]);
  for (const vm of vms) {
    vm.child.kill('SIGKILL');
    try {
      const pids = execFileSync('ip', ['netns', 'pids', vm.ns.name], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
      if (pids.length) execFileSync('kill', ['-KILL', ...pids]);
    } catch {}
    try {
      ip('netns', 'del', vm.ns.name);
    } catch {}
    try {
      ip('link', 'del', vm.ns.outer);
    } catch {}
  }
  rmSync(root, { recursive: true, force: true });
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  const base = join(root, 'golden.qcow2');
  copyFileSync(GUEST, base);
  const baseBytes = du(base);

  // Baseline: N full copies of the base, timed one by one (what BOOT_COPY=Y or a `cp` per VM costs).
  const copies = [];
  mkdirSync(join(root, 'copies'));
  for (let i = 0; i < N; i++) {
    const target = join(root, 'copies', `vm${i}.qcow2`);
    const started = process.hrtime.bigint();
    copyFileSync(base, target);
    copies.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const copiesBytes = du(join(root, 'copies'));
  rmSync(join(root, 'copies'), { recursive: true });

  // windock's clones, one after the other like the copies: the disk step of a start
  // (prepareStorage: observe the base, create the overlay, check what qemu-img wrote).
  const clones = [];
  const diskSteps = [];
  const cloneBytes = [];
  for (let i = 0; i < N; i++) {
    const storage = join(root, `vm${i}`, 'storage');
    const started = process.hrtime.bigint();
    const { actions } = await windockClone(storage, join(root, `vm${i}`, 'run'), base, DISK_SETTINGS);
    diskSteps.push(Number(process.hrtime.bigint() - started) / 1e6);
    clones.push(actions.find((a) => a.action === 'create-overlay').ms);
    cloneBytes.push(du(join(storage, 'data.qcow2')));
  }

  // The fleet: all N at once, as `docker compose up --scale vm=N` starts them; each start finds
  // its overlay made and uses it.

  const launched = Date.now();
  for (let i = 0; i < N; i++) startVm(i, base);
  const deadline = launched + ANSWER_DEADLINE_MS;
  while (vms.some((vm) => !vm.answer) && Date.now() < deadline) {
    await Promise.all(
      vms.filter((vm) => !vm.answer).map(async (vm) => {
        const line = await guestLine(vm.ns.address, 3389);
        if (line?.startsWith('windock-guest 3389 ')) {
          vm.answer = line;
          vm.answeredAt = Date.now() - launched;
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const answered = vms.filter((vm) => vm.answer);
  const memory = vms.filter((vm) => vm.qemuPid).map((vm) => memoryOf(vm.qemuPid));
  const rss = memory.map((m) => m.rss);
  const pss = memory.map((m) => m.pss);
  const overlays = vms.map((vm) => du(join(vm.dir, 'storage', 'data.qcow2')));
  const storageDirs = vms.map((vm) => du(join(vm.dir, 'storage')));
  const macs = new Set(vms.map((vm) => vm.mac).filter(Boolean));

  table(`Fleet of ${N} VMs from one ${mib(baseBytes)} base (test guest, TCG, 128M each, NETWORK=user, one namespace per VM, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores)`, [
    ['', `windock overlays (BOOT=base)`, `${N} copies of the base`],
    ['clone time, median (max)', `${median(clones).toFixed(0)} ms (${Math.max(...clones).toFixed(0)} ms): overlay made and checked (windock's log)`, `${median(copies).toFixed(1)} ms (${Math.max(...copies).toFixed(1)} ms) per copy`],
    ["windock's whole disk step", `${median(diskSteps).toFixed(0)} ms median: + observing the base, windock.json (fsync'd)`, ''],
    ['clone size at creation, max', mib(Math.max(...cloneBytes)), mib(baseBytes)],
    ['total disk after boot', `${mib(baseBytes + storageDirs.reduce((a, b) => a + b, 0))} = base ${mib(baseBytes)} + Σ STORAGE ${mib(storageDirs.reduce((a, b) => a + b, 0))} (overlays ${mib(overlays.reduce((a, b) => a + b, 0))}, median ${mib(median(overlays))})`, `${mib(copiesBytes)} before booting`],
    ['QEMU memory per VM, median', `RSS ${mib(median(rss))} (max ${mib(Math.max(...rss))}), PSS ${mib(median(pss))}; no balloon device`, 'same VM: same memory'],
    [`all ${N} answer on 3389`, answered.length === N ? `${(Math.max(...answered.map((vm) => vm.answeredAt)) / 1000).toFixed(1)} s after launch (first ${(Math.min(...answered.map((vm) => vm.answeredAt)) / 1000).toFixed(1)} s)` : `only ${answered.length} of ${N} within ${ANSWER_DEADLINE_MS / 60_000} min`, 'same VM: same boot'],
    ['distinct MACs (serial console)', `${macs.size} of ${N}${macs.size === N ? '' : ' — NOT all distinct'}`, 'a copy keeps whatever MAC its config names'],
  ]);
  console.log(`\ntargets: clone < 100 ms: ${Math.max(...clones) < 100 ? 'yes' : 'no'} · clone < 1 MiB: ${Math.max(...cloneBytes) < 2 ** 20 ? 'yes' : 'no'} · disk = base + Σ deltas: yes (overlays hold only what the guests wrote) · all ${N} reachable: ${answered.length === N ? 'yes' : 'no'}`);
  const copyRate = baseBytes / 2 ** 20 / (median(copies) / 1000);
  console.log(`a copy ran at ${copyRate.toFixed(0)} MiB/s (the base sits in the page cache): it grows with the base — a 20 GiB golden image would take ${((20 * 1024) / copyRate).toFixed(0)} s per VM at that rate; an overlay does not`);
  console.log(`sample answers: ${answered.slice(0, 3).map((vm) => `${vm.ns.address} → "${vm.answer}" (mac ${vm.mac})`).join('; ')}`);
} finally {
  await cleanup();
}
