/**
 * The published image under a real Docker engine (Debian's docker.io), with the test guest as
 * BOOT under TCG:
 *  - the container reports healthy (Docker's HEALTHCHECK running `windock health`);
 *  - the published 3389 (tcp and udp, on 127.0.0.1) reaches the guest through windock's
 *    bridge/tap/DNAT inside the container, behind Docker's own bridge network and port mapping;
 *  - /dev/kvm inside has group kvm;
 *  - no helper daemonizes (every process but windock is windock's descendant, none re-parented to
 *    tini) and no zombie is left;
 *  - `docker stop` ends it with exit code 0 — windock's own exit, which Docker's SIGKILL after
 *    the timeout would have made 137 — with the guest's shutdown marker on the overlay disk;
 *  - `docker kill` then `docker start` boots the same disk, nothing lost: the marker count the
 *    first shutdown wrote is still there, and the next shutdown adds one.
 *
 * The engine: started here when none answers (test/fixtures/docker.ts); the whole file is skipped,
 * with the reason, only when no engine can be started.
 *
 * The base disk is mounted read-only at the same path inside as outside: windock's overlay records
 * its base by absolute path, so the test can read the overlay on the host with qemu-img.
 */
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARTIFACTS_DIR,
  TEST_IMAGE,
  buildWindockImage,
  containerLogs,
  containerProcesses,
  containerState,
  docker,
  ensureBaseImage,
  ensureDockerEngine,
  imageSizeReport,
  publishedPort,
  removeContainer,
  waitExited,
  waitHealthy,
} from '../fixtures/docker.js';
import { copyGuestDisk, parseGuestReply, readShutdownMarker } from '../fixtures/guest.js';

const engine = await ensureDockerEngine({ uid: process.getuid?.() ?? -1 });
if (!engine.available) console.warn(`[docker e2e] skipped: ${engine.reason}`);

/** The stop timeout the README and compose.yml give: SHUTDOWN_TIMEOUT 110 s + 10 s ladder + margin. */
const STOP_TIMEOUT_SECONDS = 120;
const BOOT_DEADLINE_MS = 300_000;

let work: string;
let baseDir: string;
let storageDir: string;
let container: string | undefined;
/** Containers of the firmware tests, removed in afterAll. */
const others: string[] = [];

/**
 * `docker run` for the test guest: the README's command (devices, NET_ADMIN, no --privileged),
 * ports published on loopback only, the guest disk as BOOT, TCG.
 */
function runArgs(storage: string, env: Record<string, string> = {}, options: { tty?: boolean } = {}): string[] {
  const settings = { KVM: 'N', RAM_SIZE: '256M', CPU_CORES: '1', DISK_SIZE: '1G', BOOT: join(baseDir, 'guest.qcow2'), ...env };
  return [
    'run', '--detach', ...(options.tty ? ['--tty', '--interactive'] : []),
    '--device', '/dev/kvm', '--device', '/dev/net/tun', '--cap-add', 'NET_ADMIN',
    '--publish', '127.0.0.1::8006', '--publish', '127.0.0.1::3389/tcp', '--publish', '127.0.0.1::3389/udp',
    '--volume', `${baseDir}:${baseDir}:ro`, '--volume', `${storage}:/storage`,
    ...Object.entries(settings).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
    // The image's 30 s interval is for production; the test wants the first healthy probe.
    '--health-interval', '2s', '--health-timeout', '5s', '--health-retries', '3',
    TEST_IMAGE,
  ];
}

/** One line from a TCP port, or undefined when the connection fails or closes without one. */
async function readTcpLine(host: string, port: number, timeoutMs = 5_000): Promise<string | undefined> {
  const socket = createConnection({ host, port });
  socket.setTimeout(timeoutMs);
  let data = '';
  try {
    return await new Promise<string | undefined>((resolve) => {
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1');
        if (data.includes('\n')) resolve(data.split('\n')[0]);
      });
      socket.on('timeout', () => resolve(undefined));
      socket.on('error', () => resolve(undefined));
      socket.on('close', () => resolve(data.includes('\n') ? data.split('\n')[0] : undefined));
    });
  } finally {
    socket.destroy();
  }
}

async function readUdpReply(host: string, port: number, timeoutMs = 3_000): Promise<string | undefined> {
  const socket = createSocket('udp4');
  try {
    socket.send('hello\n', port, host);
    const reply = await Promise.race([
      once(socket, 'message').then(([message]) => String(message).split('\n')[0]),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs)),
    ]);
    return reply;
  } finally {
    socket.close();
  }
}

/** Poll until `check` gives a value; fail with what was last seen at the deadline. */
async function until<T>(what: string, check: () => Promise<T | undefined>, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The overlay windock made over the base: the only qcow2 in STORAGE. */
async function overlayDisk(dir = storageDir): Promise<string> {
  const disks = (await readdir(dir)).filter((name) => name.endsWith('.qcow2'));
  expect(disks, `qcow2 files in ${dir}`).toHaveLength(1);
  return join(dir, disks[0]!);
}

async function guestReply(protocol: 'tcp' | 'udp', id = container!): Promise<ReturnType<typeof parseGuestReply>> {
  const { host, port } = await publishedPort(id, `3389/${protocol}`);
  const line = await until(
    `the guest's answer on the published 3389/${protocol}`,
    () => (protocol === 'tcp' ? readTcpLine(host, port) : readUdpReply(host, port)),
    120_000,
  );
  return parseGuestReply(line);
}

describe.skipIf(!engine.available)('the windock image under Docker', () => {
  beforeAll(async () => {
    const base = await ensureBaseImage({ log: (line) => console.warn(`[docker e2e] ${line}`) });
    console.warn(`[docker e2e] engine ${engine.available ? engine.version : ''}, base image: ${base.source}`);
    await buildWindockImage();
    const report = await imageSizeReport(TEST_IMAGE);
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await writeFile(join(ARTIFACTS_DIR, 'image-size.json'), `${JSON.stringify(report, null, 2)}\n`);

    work = await mkdtemp(join(tmpdir(), 'windock-docker-'));
    baseDir = join(work, 'base');
    storageDir = join(work, 'storage');
    await mkdir(baseDir);
    await mkdir(storageDir);
    await copyGuestDisk(baseDir, 'guest.qcow2');
    await chmod(join(baseDir, 'guest.qcow2'), 0o444);
  });

  afterAll(async () => {
    if (container) {
      if (engine.available) await writeFile(join(ARTIFACTS_DIR, 'docker-e2e-container.log'), await containerLogs(container, 400)).catch(() => {});
      await removeContainer(container);
    }
    for (const id of others) await removeContainer(id);
    if (work) await rm(work, { recursive: true, force: true });
    if (engine.available) await engine.stop();
  });

  it('runs windock as the entrypoint', async () => {
    const version = await docker(['run', '--rm', TEST_IMAGE, '--version'], { timeoutMs: 60_000 });
    expect(String(version.stdout).trim()).toMatch(/^\d+\.\d+\.\d+/);
    const config = await docker(['run', '--rm', '-e', 'RAM_SIZE=4 gigs', TEST_IMAGE, 'config'], { timeoutMs: 60_000, reject: false });
    expect(config.exitCode).toBe(2);
  });

  it('boots the test guest and reports healthy', async () => {
    const run = await docker(runArgs(storageDir), { timeoutMs: 60_000 });
    container = String(run.stdout).trim();
    const state = await waitHealthy(container, { deadlineMs: BOOT_DEADLINE_MS });
    expect(state.Health?.Status).toBe('healthy');

    const web = await publishedPort(container, '8006/tcp');
    const health = await fetch(`http://${web.host}:${web.port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ phase: 'running' });
  });

  it('forwards the published 3389 tcp and udp to the guest', async () => {
    const tcp = await guestReply('tcp');
    expect(tcp).toMatchObject({ port: 3389 });
    const udp = await guestReply('udp');
    expect(udp).toMatchObject({ port: 3389, ip: tcp!.ip });
    // What kubernetes.yml's readiness probe reads: 200 once the guest answers on its RDP port.
    const web = await publishedPort(container!, '8006/tcp');
    const ready = await until(
      '/health/ready 200',
      async () => {
        const response = await fetch(`http://${web.host}:${web.port}/health/ready`);
        await response.arrayBuffer();
        return response.status === 200 ? response.status : undefined;
      },
      120_000,
    );
    expect(ready).toBe(200);
  });

  it('gives /dev/kvm group kvm inside', async () => {
    const stat = await docker(['exec', container!, 'stat', '-c', '%G %a', '/dev/kvm'], { timeoutMs: 30_000 });
    const [group, mode] = String(stat.stdout).trim().split(' ');
    expect(group).toBe('kvm');
    expect(Number.parseInt(mode!, 8) & 0o060).toBe(0o060);
  });

  it('runs tini as PID 1 and every helper as a descendant of windock, no zombies', async () => {
    const processes = await containerProcesses(container!);
    const init = processes.find((p) => p.pid === 1);
    expect(init?.comm).toBe('tini');
    const children = processes.filter((p) => p.ppid === 1);
    // windock (node) is tini's only child: a helper that daemonized would be re-parented here.
    expect(children.map((p) => p.comm)).toEqual(['node']);
    const windock = children[0]!.pid;
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    const descendsFromWindock = (p: { ppid: number }): boolean => {
      for (let parent = byPid.get(p.ppid); parent; parent = byPid.get(parent.ppid)) if (parent.pid === windock) return true;
      return false;
    };
    // The exec'd reader itself has ppid 0 (it enters from outside the container's tree).
    const helpers = processes.filter((p) => p.pid !== 1 && p.pid !== windock && p.ppid !== 0);
    expect(helpers.map((p) => p.comm)).toEqual(expect.arrayContaining(['qemu-system-x86']));
    for (const helper of helpers) expect(descendsFromWindock(helper), `${helper.comm} (${helper.pid}) under windock`).toBe(true);
    expect(processes.filter((p) => p.state === 'Z')).toEqual([]);
  });

  it('turns docker stop into a guest shutdown and exits 0', async () => {
    const stop = await docker(['stop', '--time', String(STOP_TIMEOUT_SECONDS), container!], { timeoutMs: (STOP_TIMEOUT_SECONDS + 30) * 1000 });
    expect(stop.exitCode).toBe(0);
    const state = await containerState(container!);
    // 0 is windock's "the guest powered off"; Docker's SIGKILL at the timeout would give 137.
    expect(state).toMatchObject({ Running: false, ExitCode: 0, OOMKilled: false });
    expect(await readShutdownMarker(await overlayDisk())).toEqual({ count: 1 });
  });

  it('survives docker kill: docker start boots the same disk with nothing lost', async () => {
    const overlay = await overlayDisk();
    await docker(['start', container!], { timeoutMs: 60_000 });
    await waitHealthy(container!, { deadlineMs: BOOT_DEADLINE_MS });
    expect(await guestReply('tcp')).toMatchObject({ port: 3389 });

    await docker(['kill', container!], { timeoutMs: 30_000 });
    const killed = await waitExited(container!, 60_000);
    expect(killed.ExitCode).toBe(137);
    // The kill cut the guest off mid-run; its disk still holds the first shutdown.
    expect(await overlayDisk()).toBe(overlay);
    expect(await readShutdownMarker(overlay)).toEqual({ count: 1 });

    await docker(['start', container!], { timeoutMs: 60_000 });
    await waitHealthy(container!, { deadlineMs: BOOT_DEADLINE_MS });
    expect(await guestReply('tcp')).toMatchObject({ port: 3389 });
    const processes = await containerProcesses(container!);
    expect(processes.filter((p) => p.state === 'Z')).toEqual([]);

    await docker(['stop', '--time', String(STOP_TIMEOUT_SECONDS), container!], { timeoutMs: (STOP_TIMEOUT_SECONDS + 30) * 1000 });
    expect(await containerState(container!)).toMatchObject({ Running: false, ExitCode: 0 });
    expect(await overlayDisk()).toBe(overlay);
    expect(await readShutdownMarker(overlay)).toEqual({ count: 2 });
  });
  it('boots the guest under UEFI with the image\'s OVMF', async () => {
    const storage = join(work, 'storage-uefi');
    await mkdir(storage);
    const run = await docker(runArgs(storage, { BOOT_MODE: 'uefi' }), { timeoutMs: 60_000 });
    const id = String(run.stdout).trim();
    others.push(id);
    await waitHealthy(id, { deadlineMs: BOOT_DEADLINE_MS });
    expect(await guestReply('tcp', id)).toMatchObject({ port: 3389 });
    await docker(['stop', '--time', String(STOP_TIMEOUT_SECONDS), id], { timeoutMs: (STOP_TIMEOUT_SECONDS + 30) * 1000 });
    expect(await containerState(id)).toMatchObject({ Running: false, ExitCode: 0 });
    expect(await readShutdownMarker(await overlayDisk(storage))).toEqual({ count: 1 });
  });

  it('runs with a terminal (the README\'s docker run -it): pretty logs, healthy, docker stop exits 0', async () => {
    const storage = join(work, 'storage-tty');
    await mkdir(storage);
    const run = await docker(runArgs(storage, {}, { tty: true }), { timeoutMs: 60_000 });
    const id = String(run.stdout).trim();
    others.push(id);
    await waitHealthy(id, { deadlineMs: BOOT_DEADLINE_MS });
    // Colours and the terminal's CR stripped: pino-pretty's "[HH:MM:ss.l] INFO: ..." lines, not
    // JSON, and no fallback warning.
    const logs = (await containerLogs(id, 200)).replace(/\u001b\[[0-9;]*m/g, '').replaceAll('\r', '');
    expect(logs, logs).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: windock starting/m);
    expect(logs, logs).not.toMatch(/^\{"level"/m);
    expect(logs, logs).not.toContain('pretty logs are not available');
    await docker(['stop', '--time', String(STOP_TIMEOUT_SECONDS), id], { timeoutMs: (STOP_TIMEOUT_SECONDS + 30) * 1000 });
    expect(await containerState(id)).toMatchObject({ Running: false, ExitCode: 0 });
  });

  it('runs swtpm under windock for BOOT_MODE=secure, and escalates when nothing answers the button', async () => {
    // Secure boot refuses the test guest's unsigned kernel, so the VM sits in OVMF: QEMU runs
    // (healthy), swtpm runs beside it, and the power button finds no OS — after
    // SHUTDOWN_TIMEOUT the ladder stops QEMU and windock exits 6 (forced), still inside the
    // stop timeout.
    const storage = join(work, 'storage-secure');
    await mkdir(storage);
    const run = await docker(runArgs(storage, { BOOT_MODE: 'secure', SHUTDOWN_TIMEOUT: '3' }), { timeoutMs: 60_000 });
    const id = String(run.stdout).trim();
    others.push(id);
    await waitHealthy(id, { deadlineMs: BOOT_DEADLINE_MS });
    const processes = await containerProcesses(id);
    const windock = processes.find((p) => p.ppid === 1)!;
    const swtpm = processes.find((p) => p.comm === 'swtpm');
    expect(swtpm, `swtpm among ${processes.map((p) => p.comm).join(', ')}`).toBeDefined();
    expect(swtpm!.ppid).toBe(windock.pid);
    await docker(['stop', '--time', String(STOP_TIMEOUT_SECONDS), id], { timeoutMs: (STOP_TIMEOUT_SECONDS + 30) * 1000 });
    expect(await containerState(id)).toMatchObject({ Running: false, ExitCode: 6 });
  });
});
