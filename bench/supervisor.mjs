#!/usr/bin/env node
// What windock adds to a VM's start and stop, side by side with a baseline, in one run:
//  1. start: `windock` launch → QEMU's process exists, versus a bare `node -e ''` (launch → exit);
//  2. stop: SIGTERM to windock → windock's exit, versus the guest's own shutdown time when a raw
//     QMP `system_powerdown` is sent to the same QEMU started by hand.
// Uses the test guest under TCG (KVM=N), NETWORK=none, and the built dist/cli.js. The start is
// measured twice: with the minimal settings (BOOT_MODE=legacy, no viewer token) and with the
// defaults a user gets (a disk present, VERSION=11 so the Windows profile and secure boot with
// swtpm, a viewer token generated); the stop with the minimal ones (the guest must boot to answer).
// Both stop columns press at the same point of the guest's life: once it has loaded its last
// drivers ('late modules loaded'). The Windows profile gives the guest a SATA disk, whose driver
// the test guest loads in the background after 'acpid ready', and its power-button action waits
// for that disk to write its marker: a press right at 'acpid ready' measures the driver's probe
// and how early the press came, not the stop.
// Usage: node bench/supervisor.mjs [rounds]   (after `npm run build` and the guest build)
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { median, ms, table } from './lib.mjs';

const rounds = Number(process.argv[2] ?? 5);
const cli = new URL('../dist/cli.js', import.meta.url).pathname;
const guest = join(process.env.WINDOCK_GUEST_CACHE ?? join(homedir(), '.cache', 'windock-test-guest'), 'guest.qcow2');

/**
 * Whether windock's QEMU exists: setpriv execs into QEMU, so QEMU is a direct child of windock
 * with "qemu-system" in its command line. Read from /proc/PID/task/TID/children (a few files),
 * not by scanning every process: the poll runs beside the start it measures, on the same cores.
 */
function hasQemuChild(pid) {
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {}
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {}
    for (const child of children.split(' ').filter(Boolean)) {
      try {
        if (/qemu-system/.test(readFileSync(`/proc/${child}/cmdline`, 'utf8'))) return true;
      } catch {}
    }
  }
  return false;
}

async function nodeBaseline() {
  const start = performance.now();
  await new Promise((resolve) => spawn(process.execPath, ['-e', ''], { stdio: 'ignore' }).once('exit', resolve));
  return performance.now() - start;
}

function freshStorage() {
  const dir = mkdtempSync(join(tmpdir(), 'windock-bench-'));
  mkdirSync(join(dir, 'storage'));
  copyFileSync(guest, join(dir, 'storage', 'data.qcow2'));
  return dir;
}

/** Every wait of the bench ends: a guest that never prints its line fails the round, with its name. */
const WAIT_MS = 300_000;
function bounded(what, promise) {
  let timer;
  const deadline = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Minimal: what the stop round needs. Defaults: only what this machine cannot do otherwise (TCG, no tap). */
const SETTINGS = {
  minimal: { RAM_SIZE: '256M', CPU_CORES: '1', BOOT_MODE: 'legacy', DEBUG: 'Y', WEB_AUTH: 'N', DISK_SIZE: '64M' },
  defaults: {},
};

function startWindock(dir, port, settings = 'minimal') {
  const child = spawn(process.execPath, [cli], {
    env: { PATH: process.env.PATH, STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), WEB_PORT: String(port), KVM: 'N', NETWORK: 'none', LOG_FORMAT: 'json', ...SETTINGS[settings] },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w(line);
  });
  const waitFor = (text) => bounded(`windock's line "${text}"`, new Promise((resolve) => {
    if (lines.some((l) => l.includes(text))) return resolve();
    const w = (line) => line.includes(text) && (waiters.splice(waiters.indexOf(w), 1), resolve());
    waiters.push(w);
  }));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, waitFor, exited };
}

/** From the launch of windock until its QEMU process exists. */
async function untilQemu(run, start) {
  for (;;) {
    if (performance.now() - start > WAIT_MS) throw new Error(`no QEMU child of windock within ${WAIT_MS} ms`);
    if (hasQemuChild(run.child.pid)) return performance.now() - start;
    if (run.child.exitCode !== null) throw new Error(`windock exited with ${run.child.exitCode} before QEMU started`);
    // A 1 ms pause, not setImmediate: a busy poll would take a core from the start it measures.
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** The default settings: windock start → QEMU exists, then a stop that is not measured. */
async function defaultsRound(port) {
  const dir = freshStorage();
  const start = performance.now();
  const run = startWindock(dir, port, 'defaults');
  const qemuAt = await untilQemu(run, start);
  // Its stop is not measured: the second request skips the power-button wait (the guest, under
  // secure boot before any OS, would use all of SHUTDOWN_TIMEOUT).
  run.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  run.child.kill('SIGTERM');
  await run.exited;
  rmSync(dir, { recursive: true, force: true });
  return qemuAt;
}

/** windock start → QEMU exists; then SIGTERM (once the guest listens) → windock exit. */
async function windockRound(port) {
  const dir = freshStorage();
  const start = performance.now();
  const run = startWindock(dir, port);
  const qemuAt = await untilQemu(run, start);
  await run.waitFor(SETTLED);
  const argvLine = run.lines.find((l) => l.includes('QEMU command line'));
  const stopAt = performance.now();
  run.child.kill('SIGTERM');
  const code = await run.exited;
  const stopMs = performance.now() - stopAt;
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`windock exited with ${code}`);
  return { qemuAt, stopMs, argv: JSON.parse(argvLine).argv };
}

/** The guest's last boot line: every driver loaded (see the header). */
const SETTLED = 'windock-guest: late modules loaded';

/** The same QEMU by hand: QMP ready beforehand, wait for the guest, raw QMP system_powerdown → QEMU exit. */
async function bareRound(argv) {
  const dir = freshStorage();
  const qmpPath = join(dir, 'bare-qmp.sock');
  // SeaBIOS's serial-console port file lives in windock's RUN_DIR, gone by now; the bare QEMU does without.
  const fwCfg = argv.findIndex((a) => a.startsWith('name=etc/sercon-port'));
  const kept = fwCfg > 0 ? [...argv.slice(0, fwCfg - 1), ...argv.slice(fwCfg + 1)] : argv;
  const args = kept.map((a) => a.replace(/filename=[^,]*data\.qcow2/, `filename=${join(dir, 'storage', 'data.qcow2')}`).replace(/path=[^,]*qmp\.sock/, `path=${qmpPath}`).replace(/unix:[^,]*vnc\.sock/, `unix:${join(dir, 'vnc.sock')}`));
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => qemu.once('exit', resolve));
  const settled = bounded(`the bare guest's line "${SETTLED}"`, new Promise((resolve) => createInterface({ input: qemu.stdout }).on('line', (l) => l.includes(SETTLED) && resolve())));
  // QMP is connected and in command mode before the guest settles, so the press follows the line
  // at once, as windock's SIGTERM does in the other column (no fixed pause in either).
  const socket = await qmpSession(qmpPath);
  await settled;
  const start = performance.now();
  socket.write('{"execute":"system_powerdown"}\n');
  await exited;
  const stopMs = performance.now() - start;
  socket.destroy();
  rmSync(dir, { recursive: true, force: true });
  return stopMs;
}

/** Connects to QEMU's QMP socket (retrying until QEMU made it) and enters command mode. */
async function qmpSession(path) {
  for (let tries = 0; ; tries++) {
    const socket = await new Promise((resolve) => {
      const s = connect(path, () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (socket) {
      const lines = createInterface({ input: socket });
      socket.write('{"execute":"qmp_capabilities"}\n');
      await new Promise((resolve) => lines.on('line', (l) => l.includes('"return"') && resolve()));
      return socket;
    }
    if (tries > 500) throw new Error(`no QMP socket at ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const port = 18000 + Math.floor(Math.random() * 1000);
const nodeTimes = [], qemuTimes = [], defaultTimes = [], windockStops = [], bareStops = [];
for (let i = 0; i < rounds; i++) {
  nodeTimes.push(await nodeBaseline());
  defaultTimes.push(await defaultsRound(port));
  const w = await windockRound(port);
  qemuTimes.push(w.qemuAt);
  windockStops.push(w.stopMs);
  bareStops.push(await bareRound(w.argv));
  process.stderr.write(`round ${i + 1}/${rounds}: node ${ms(nodeTimes.at(-1))}, windock→QEMU ${ms(w.qemuAt)} (defaults ${ms(defaultTimes.at(-1))}), stop ${ms(w.stopMs)} vs bare ${ms(bareStops.at(-1))}\n`);
}
const startAdded = median(qemuTimes) - median(nodeTimes);
const defaultsAdded = median(defaultTimes) - median(nodeTimes);
const stopAdded = median(windockStops) - median(bareStops);
table(`windock supervisor bench — ${rounds} rounds, medians (test guest under TCG, NETWORK=none)`, [
  ['measure', 'baseline', 'windock', 'added', 'ratio'],
  ['start, minimal settings: launch → QEMU process exists', `${ms(median(nodeTimes))} (node -e '')`, ms(median(qemuTimes)), ms(startAdded), (median(qemuTimes) / median(nodeTimes)).toFixed(2)],
  ['start, default settings: launch → QEMU process exists', `${ms(median(nodeTimes))} (node -e '')`, ms(median(defaultTimes)), ms(defaultsAdded), (median(defaultTimes) / median(nodeTimes)).toFixed(2)],
  ['stop (guest settled): request → QEMU/windock gone', `${ms(median(bareStops))} (raw QMP powerdown)`, ms(median(windockStops)), ms(stopAdded), (median(windockStops) / median(bareStops)).toFixed(2)],
]);
console.log(`\ntargets: start adds < 300 ms (minimal ${startAdded < 300 ? 'met' : 'NOT met'}, defaults ${defaultsAdded < 300 ? 'met' : 'NOT met'}), stop adds < 200 ms (${stopAdded < 200 ? 'met' : 'NOT met'})`);
