#!/usr/bin/env node
/**
 * The image under a real Docker engine, with the test guest under TCG, next to the same guest run
 * by bare QEMU in a plain container (the same image, entrypoint overridden):
 *
 *   windock    docker run → /health 200, docker run → guest answers on the published 3389,
 *              docker stop → container exited (an ACPI power-button press: the guest shuts down
 *              and writes its marker)
 *   bare QEMU  docker run → guest answers on 3389 (QEMU user networking, hostfwd),
 *              docker stop → exited: SIGTERM reaches QEMU as PID 1, which QEMU treats as "quit
 *              now" — the power cord, not a shutdown: no marker on the disk;
 *              QMP system_powerdown → exited: the fair comparison for a guest shutdown.
 *
 *   node bench/docker.mjs [--rounds 3]
 *
 * Needs root, docker.io and debootstrap (the engine, base image and windock image are made as in
 * the e2e test), and qemu-utils for reading the guest's marker.
 */
import { register } from 'node:module';
import { once } from 'node:events';
import { get } from 'node:http';
import { createConnection } from 'node:net';
import { readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

register('./docker-ts-hooks.mjs', import.meta.url);
const fixture = await import('../test/fixtures/docker.ts');
const guest = await import('../test/fixtures/guest.ts');
const { docker, dockerProbe, TEST_IMAGE } = fixture;

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
const DEADLINE_MS = 300_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 100 ms until it gives a truthy value; throws at the deadline. */
async function until(what, check, deadlineMs = DEADLINE_MS) {
  console.error(`waiting for ${what}`);
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function tcpLine(host, port, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let data = '';
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.on('data', (chunk) => {
      data += chunk;
      if (data.includes('\n')) done(data.split('\n')[0]);
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

async function guestAnswers(host, port) {
  const line = await tcpLine(host, port);
  return line && guest.parseGuestReply(line) ? line : undefined;
}

/**
 * GET /health with node:http, not fetch: Node 20's fetch leaves no ref'd handle while it waits
 * on a connection that docker-proxy accepted but nobody answers yet, and the bench would end with
 * exit 13 (an unsettled top-level await).
 */
function healthOk(host, port) {
  return new Promise((resolve) => {
    const request = get({ host, port, path: '/health', timeout: 2_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
      response.on('error', () => resolve(false));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

/** QMP (docs/interop/qmp-spec.rst): greeting, qmp_capabilities, then one command. */
async function qmpCommand(host, port, command) {
  const socket = createConnection({ host, port });
  socket.setEncoding('utf8');
  let buffer = '';
  const lines = [];
  socket.on('data', (chunk) => {
    buffer += chunk;
    let index;
    while ((index = buffer.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffer.slice(0, index)));
      buffer = buffer.slice(index + 1);
    }
  });
  const next = async (key) => {
    await until(`QMP ${key}`, async () => lines.find((l) => key in l), 10_000);
    return lines.splice(lines.findIndex((l) => key in l), 1)[0];
  };
  try {
    await next('QMP');
    socket.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
    await next('return');
    socket.write(`${JSON.stringify({ execute: command })}\n`);
    return await next('return');
  } finally {
    socket.destroy();
  }
}

const seconds = (ms) => (ms / 1000).toFixed(1);

async function windockRound(work, n) {
  const storage = join(work, `windock-${n}`);
  await mkdir(storage);
  const base = join(work, 'base');
  const t0 = Date.now();
  const run = await docker([
    'run', '--detach',
    '--device', '/dev/kvm', '--device', '/dev/net/tun', '--cap-add', 'NET_ADMIN',
    '--publish', '127.0.0.1::8006', '--publish', '127.0.0.1::3389/tcp',
    '--volume', `${base}:${base}:ro`, '--volume', `${storage}:/storage`,
    '--env', 'KVM=N', '--env', 'RAM_SIZE=256M', '--env', 'CPU_CORES=1', '--env', 'DISK_SIZE=1G',
    '--env', `BOOT=${join(base, 'guest.qcow2')}`,
    TEST_IMAGE,
  ]);
  const id = String(run.stdout).trim();
  try {
    const web = await fixture.publishedPort(id, '8006/tcp');
    const rdp = await fixture.publishedPort(id, '3389/tcp');
    await until('/health 200', () => healthOk(web.host, web.port));
    const health = Date.now() - t0;
    await until('the guest on 3389', () => guestAnswers(rdp.host, rdp.port));
    const answers = Date.now() - t0;
    const t1 = Date.now();
    await docker(['stop', '--time', '120', id], { timeoutMs: 150_000 });
    const stop = Date.now() - t1;
    const state = await fixture.containerState(id);
    const disks = readdirSync(storage).filter((f) => f.endsWith('.qcow2'));
    const marker = disks.length === 1 ? await guest.readShutdownMarker(join(storage, disks[0])) : null;
    return { health, answers, stop, exitCode: state.ExitCode, marker: marker?.count ?? 0 };
  } finally {
    await fixture.removeContainer(id);
  }
}

/** The guest under bare QEMU, PID 1 of a container of the same image. */
async function qemuRound(work, n, stopBy) {
  const dir = join(work, `qemu-${n}-${stopBy}`);
  await mkdir(dir);
  const base = join(work, 'base', 'guest.qcow2');
  await docker(['run', '--rm', '--entrypoint', 'qemu-img', '-v', `${join(work, 'base')}:${join(work, 'base')}:ro`, '-v', `${dir}:/disk`,
    TEST_IMAGE, 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, '/disk/overlay.qcow2']);
  const t0 = Date.now();
  const run = await docker([
    'run', '--detach', '--entrypoint', 'qemu-system-x86_64', '--no-healthcheck',
    '--publish', '127.0.0.1::3389/tcp', '--publish', '127.0.0.1::4444/tcp',
    '-v', `${join(work, 'base')}:${join(work, 'base')}:ro`, '-v', `${dir}:/disk`,
    TEST_IMAGE,
    '-machine', 'q35', '-accel', 'tcg', '-m', '256M', '-smp', '1', '-display', 'none', '-serial', 'null',
    '-drive', 'file=/disk/overlay.qcow2,format=qcow2,if=virtio',
    '-nic', 'user,model=virtio-net-pci,hostfwd=tcp::3389-:3389',
    '-qmp', 'tcp:0.0.0.0:4444,server=on,wait=off',
  ]);
  const id = String(run.stdout).trim();
  try {
    const rdp = await fixture.publishedPort(id, '3389/tcp');
    await until('the guest on 3389', () => guestAnswers(rdp.host, rdp.port));
    const answers = Date.now() - t0;
    const t1 = Date.now();
    if (stopBy === 'sigterm') {
      await docker(['stop', '--time', '120', id], { timeoutMs: 150_000 });
    } else {
      const qmp = await fixture.publishedPort(id, '4444/tcp');
      await qmpCommand(qmp.host, qmp.port, 'system_powerdown');
      await docker(['wait', id], { timeoutMs: 150_000 });
    }
    const stop = Date.now() - t1;
    const state = await fixture.containerState(id);
    const marker = await guest.readShutdownMarker(join(dir, 'overlay.qcow2'));
    return { answers, stop, exitCode: state.ExitCode, marker: marker?.count ?? 0 };
  } finally {
    await fixture.removeContainer(id);
  }
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `${seconds(median)} s (min ${seconds(sorted[0])}, max ${seconds(sorted.at(-1))})`;
}

const engine = await fixture.ensureDockerEngine({ uid: process.getuid() });
if (!engine.available) {
  console.error(`no Docker engine: ${engine.reason}`);
  process.exit(1);
}
const work = await mkdtemp(join(tmpdir(), 'windock-bench-docker-'));
try {
  const baseSource = await fixture.ensureBaseImage({ log: (line) => console.error(line) });
  await fixture.buildWindockImage();
  await mkdir(join(work, 'base'));
  await guest.copyGuestDisk(join(work, 'base'), 'guest.qcow2');
  await chmod(join(work, 'base', 'guest.qcow2'), 0o444);
  const size = await fixture.imageSizeReport(TEST_IMAGE);
  const version = String((await dockerProbe(['run', '--rm', TEST_IMAGE, '--version'])).stdout).trim();

  const results = { windock: [], sigterm: [], powerdown: [] };
  for (let n = 0; n < rounds; n++) {
    results.windock.push(await windockRound(work, n));
    results.sigterm.push(await qemuRound(work, n, 'sigterm'));
    results.powerdown.push(await qemuRound(work, n, 'powerdown'));
    console.error(`round ${n + 1}/${rounds}: ${JSON.stringify({ windock: results.windock.at(-1), sigterm: results.sigterm.at(-1), powerdown: results.powerdown.at(-1) })}`);
  }

  const pick = (rows, key) => rows.map((r) => r[key]);
  const codes = (rows) => [...new Set(rows.map((r) => r.exitCode))].join(',');
  const markers = (rows) => `${rows.filter((r) => r.marker > 0).length}/${rows.length}`;
  console.log(`\nwindock ${version} image ${TEST_IMAGE}: ${(size.bytes / 1e6).toFixed(0)} MB; engine ${engine.version}; base ${baseSource.source}`);
  console.log(`test guest under TCG (KVM=N, 256 MiB, 1 vCPU), ${rounds} round(s), median (min, max):\n`);
  const rows = [
    ['', 'windock (image entrypoint)', 'bare QEMU, docker stop', 'bare QEMU, QMP powerdown'],
    ['run → /health 200', summary(pick(results.windock, 'health')), '—', '—'],
    ['run → guest answers 3389', summary(pick(results.windock, 'answers')), summary(pick(results.sigterm, 'answers')), summary(pick(results.powerdown, 'answers'))],
    ['stop → exited', summary(pick(results.windock, 'stop')), summary(pick(results.sigterm, 'stop')), summary(pick(results.powerdown, 'stop'))],
    ['exit code', codes(results.windock), codes(results.sigterm), codes(results.powerdown)],
    ['guest shut down (marker)', markers(results.windock), markers(results.sigterm), markers(results.powerdown)],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  '));
  console.log(`
windock's stop is docker stop → SIGTERM → ACPI power button → the guest powers off → windock exits 0.
Bare QEMU's docker stop is SIGTERM to QEMU, which quits at once (QEMU's "terminating on signal"):
fast, but the guest never shuts down (no marker): for Windows that is a power cut.
QMP system_powerdown is the bare-QEMU equivalent of windock's stop.`);
} finally {
  await rm(work, { recursive: true, force: true });
  await engine.stop();
}
