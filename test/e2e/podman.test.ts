/**
 * The image under real Podman (Debian's podman 4.3, CNI), rootful and rootless, with the test
 * guest as BOOT under TCG: the README's `docker run` flags work unchanged with `podman run`.
 *  - rootful: NETWORK=tap (bridge, tap, DNAT inside the container), Podman's healthcheck runs
 *    `windock health` and passes, the published 3389 reaches the guest, `podman stop` is a guest
 *    shutdown with exit 0 and the marker on the overlay;
 *  - rootless (an ordinary user with subordinate ids) with the README's flags: tap could be built
 *    (NET_ADMIN over its own namespaces, the tun device), but Podman's port forwarder delivers
 *    published ports on the container's loopback, which tap's DNAT never sees (the guest answered
 *    inside while the published port closed empty), so windock takes NETWORK=user;
 *  - rootless with Podman's defaults (no NET_ADMIN, no tun): windock names the evidence
 *    (uid_map), falls back to NETWORK=user, moves slirp's network off the 10.0.2.0/24
 *    slirp4netns gave the container (network/slirp-net.ts), and the published 3389 still reaches
 *    the guest; `podman stop` exits 0.
 *
 * The image comes from the Docker engine (`docker save`, `podman load`): no registry. This
 * machine's sandbox refuses Podman's default rlimits (nofile 1048576, nproc unlimited: "error
 * setting rlimit ... operation not permitted"), so the test's containers.conf gives lower ones;
 * and its /dev/net/tun is 0600 where Debian's udev makes it 0666, which slirp4netns needs for a
 * rootless user: the test opens it up and restores the mode after.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_IMAGE, buildWindockImage, docker, ensureBaseImage, ensureDockerEngine } from '../fixtures/docker.js';
import { copyGuestDisk, parseGuestReply, readShutdownMarker, tcpLine } from '../fixtures/guest.js';
import { pollUntil } from '../fixtures/windock.js';

const ROOTLESS_USER = 'windock-rootless';
const STOP_TIMEOUT_SECONDS = 120;
const BOOT_DEADLINE_MS = 300_000;

const podmanFound = execa('podman', ['--version'], { reject: false }).then((r) => r.exitCode === 0, () => false);
const engine = (await podmanFound) ? await ensureDockerEngine({ uid: process.getuid?.() ?? -1 }) : undefined;
const skipReason = !(await podmanFound) ? 'no podman on PATH (scripts/test-packages.txt installs it)' : engine && !engine.available ? engine.reason : undefined;
if (skipReason) console.warn(`[podman e2e] skipped: ${skipReason}`);

let work = '';
let baseDir = '';
let tunMode: number | undefined;
const containers: { who: 'root' | 'rootless'; id: string }[] = [];

interface Podman {
  (args: string[], timeoutMs?: number): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** Podman as root, or as the rootless user (its own runtime directory, since no logind runs here). */
function podmanAs(who: 'root' | 'rootless'): Podman {
  const conf = join(work, 'containers.conf');
  return async (args, timeoutMs = 120_000) => {
    const [file, argv, env] =
      who === 'root'
        ? ['podman', args, { CONTAINERS_CONF: conf }]
        : ['runuser', ['-u', ROOTLESS_USER, '--', 'env', `HOME=/home/${ROOTLESS_USER}`, `XDG_RUNTIME_DIR=${join(work, 'rootless-run')}`, `CONTAINERS_CONF=${conf}`, 'podman', ...args], {}];
    const result = await execa(file as string, argv as string[], { reject: false, timeout: timeoutMs, env, cwd: work });
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
}

/** What failed, with the container's log tail. */
async function explain(podman: Podman, id: string, what: string): Promise<string> {
  const logs = await podman(['logs', '--tail', '40', id], 30_000);
  return `${what}\n--- container log ---\n${logs.stdout}${logs.stderr}`;
}

/** The README's run command, as `podman run`, with the test guest as BOOT. */
function runArgs(storage: string, readmeFlags: boolean): string[] {
  const settings = { KVM: 'N', RAM_SIZE: '256M', CPU_CORES: '1', DISK_SIZE: '1G', BOOT: join(baseDir, 'guest.qcow2') };
  return [
    'run', '--detach',
    ...(readmeFlags ? ['--device', '/dev/kvm', '--device', '/dev/net/tun', '--cap-add', 'NET_ADMIN'] : []),
    '--publish', '127.0.0.1::8006', '--publish', '127.0.0.1::3389/tcp',
    '--volume', `${baseDir}:${baseDir}:ro`, '--volume', `${storage}:/storage`,
    ...Object.entries(settings).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
    `localhost/${TEST_IMAGE}`,
  ];
}

async function startContainer(who: 'root' | 'rootless', readmeFlags = true): Promise<{ podman: Podman; id: string; storage: string }> {
  const podman = podmanAs(who);
  const storage = join(work, `storage-${who}-${readmeFlags ? 'readme' : 'bare'}`);
  await mkdir(storage, { recursive: true });
  if (who === 'rootless') await chown(storage, uidOf(ROOTLESS_USER), uidOf(ROOTLESS_USER));
  const args = runArgs(storage, readmeFlags);
  // Under a rootless user the README's flags stay as they are: Podman scopes NET_ADMIN to the
  // user's own namespaces and passes the devices the user may open.
  const run = await podman(args, 120_000);
  expect(run.exitCode, `podman run (${who}): ${run.stderr}`).toBe(0);
  const id = run.stdout.trim().split('\n').pop()!;
  containers.push({ who, id });
  return { podman, id, storage };
}

/** This process's hard limit from /proc/self/limits ("unlimited" as a large number). */
function hardLimit(name: string): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name)) ?? '';
  const hard = line.slice(name.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

async function publishedPort(podman: Podman, id: string, port: string): Promise<number> {
  const result = await podman(['port', id, port], 15_000);
  const match = /:(\d+)\s*$/.exec(result.stdout.trim().split('\n')[0] ?? '');
  if (!match) throw new Error(`podman port ${id} ${port} printed ${JSON.stringify(result.stdout)} ${result.stderr}`);
  return Number(match[1]);
}

/** The guest's reply on the published 3389, retried while it boots. */
async function guestThroughPublishedPort(podman: Podman, id: string): Promise<ReturnType<typeof parseGuestReply>> {
  const port = await publishedPort(podman, id, '3389/tcp');
  let last = '';
  const seen = await pollUntil(
    () => tcpLine('127.0.0.1', port, 5_000).catch((error: Error) => {
      last = error.message;
      return undefined;
    }),
    (l) => l !== undefined,
    BOOT_DEADLINE_MS,
    1_000,
  ).catch(async () => {
    throw new Error(await explain(podman, id, `no guest reply on 127.0.0.1:${port} (last: ${last})`));
  });
  return parseGuestReply(seen[seen.length - 1]!);
}

/** `podman healthcheck run` (no systemd timers here) until the image's HEALTHCHECK passes. */
async function waitHealthy(podman: Podman, id: string): Promise<void> {
  let last = '';
  await pollUntil(
    async () => {
      const result = await podman(['healthcheck', 'run', id], 60_000);
      last = `${result.stdout}${result.stderr}`;
      return result.exitCode;
    },
    (code) => code === 0,
    BOOT_DEADLINE_MS,
    2_000,
  ).catch(async () => {
    throw new Error(await explain(podman, id, `podman healthcheck never passed (last: ${last})`));
  });
}

async function stopAndExitCode(podman: Podman, id: string): Promise<number> {
  const stop = await podman(['stop', '--time', String(STOP_TIMEOUT_SECONDS), id], (STOP_TIMEOUT_SECONDS + 30) * 1000);
  expect(stop.exitCode, await explain(podman, id, `podman stop: ${stop.stderr}`)).toBe(0);
  const state = await podman(['inspect', '--format', '{{.State.ExitCode}}', id], 15_000);
  return Number(state.stdout.trim());
}

async function logLines(podman: Podman, id: string): Promise<Record<string, unknown>[]> {
  const logs = await podman(['logs', id], 30_000);
  return `${logs.stdout}\n${logs.stderr}`.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

async function overlayDisk(storage: string): Promise<string> {
  const disks = (await readdir(storage)).filter((name) => name.endsWith('.qcow2'));
  expect(disks, `qcow2 files in ${storage}`).toHaveLength(1);
  return join(storage, disks[0]!);
}

describe.skipIf(skipReason !== undefined)('the windock image under Podman', () => {
  beforeAll(async () => {
    await ensureBaseImage({ log: (line) => console.warn(`[podman e2e] ${line}`) });
    await buildWindockImage();
    work = await mkdtemp(join(tmpdir(), 'windock-podman-'));
    await chmod(work, 0o755);
    baseDir = join(work, 'base');
    await mkdir(baseDir);
    await copyGuestDisk(baseDir, 'guest.qcow2');
    await chmod(join(baseDir, 'guest.qcow2'), 0o444);
    const nproc = Math.min(32_768, hardLimit('Max processes'));
    const nofile = Math.min(20_000, hardLimit('Max open files'));
    await writeFile(join(work, 'containers.conf'), `[containers]\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]\n`);
    await chmod(join(work, 'containers.conf'), 0o644);

    const archive = join(work, 'windock.tar');
    await docker(['save', '--output', archive, TEST_IMAGE], { timeoutMs: 300_000 });
    await chmod(archive, 0o644);
    const rootLoad = await podmanAs('root')(['load', '--quiet', '--input', archive], 300_000);
    expect(rootLoad.exitCode, rootLoad.stderr).toBe(0);

    // The rootless user: subordinate ids come from useradd (login.defs SUB_UID_*).
    if ((await execa('id', [ROOTLESS_USER], { reject: false })).exitCode !== 0) await execa('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', ROOTLESS_USER]);
    const runtime = join(work, 'rootless-run');
    await mkdir(runtime, { mode: 0o700 });
    await chown(runtime, uidOf(ROOTLESS_USER), uidOf(ROOTLESS_USER));
    tunMode = (await stat('/dev/net/tun')).mode & 0o777;
    if ((tunMode & 0o006) !== 0o006) await chmod('/dev/net/tun', 0o666);
    const userLoad = await podmanAs('rootless')(['load', '--quiet', '--input', archive], 300_000);
    expect(userLoad.exitCode, userLoad.stderr).toBe(0);
    await rm(archive, { force: true });
  }, 1_800_000);

  afterAll(async () => {
    for (const { who, id } of containers) await podmanAs(who)(['rm', '--force', id], 60_000);
    if (tunMode !== undefined) await chmod('/dev/net/tun', tunMode);
    // The rootless user's images and layers (owned by its subordinate ids) go with a reset.
    await podmanAs('rootless')(['system', 'reset', '--force'], 120_000).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
    if (engine?.available) await engine.stop();
  }, 300_000);

  it('rootful: tap networking, the healthcheck passes, 3389 reaches the guest, podman stop is a clean shutdown', async () => {
    const { podman, id, storage } = await startContainer('root');
    await waitHealthy(podman, id);
    const reply = await guestThroughPublishedPort(podman, id);
    expect(reply, await explain(podman, id, 'guest reply')).toMatchObject({ port: 3389, ip: '172.30.0.2' });
    const lines = await logLines(podman, id);
    expect(lines.find((l) => l['msg'] === 'building the guest network'), await explain(podman, id, 'tap network')).toBeDefined();
    expect(await stopAndExitCode(podman, id), await explain(podman, id, 'exit code')).toBe(0);
    expect(await readShutdownMarker(await overlayDisk(storage))).toEqual({ count: 1 });
  });

  it("rootless with the README's flags: tap could be built, but its published ports arrive on the container's loopback, so NETWORK=user; 3389 reaches the guest; podman stop exits 0", async () => {
    const { podman, id } = await startContainer('rootless');
    await waitHealthy(podman, id);
    const lines = await logLines(podman, id);
    const fallback = lines.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('using NETWORK=user'));
    expect(String(fallback?.['msg']), await explain(podman, id, 'the rootless choice')).toContain("delivers published ports from the container's own loopback");
    const reply = await guestThroughPublishedPort(podman, id);
    expect(reply, await explain(podman, id, 'guest reply')).toMatchObject({ port: 3389, ip: '10.0.3.15' });
    expect(await stopAndExitCode(podman, id), await explain(podman, id, 'exit code')).toBe(0);
  });

  it("rootless with podman's defaults (no NET_ADMIN, no tun): NETWORK=user named by its evidence, slirp off slirp4netns' 10.0.2.0/24, 3389 reaches the guest, podman stop exits 0", async () => {
    const { podman, id } = await startContainer('rootless', false);
    await waitHealthy(podman, id);
    const lines = await logLines(podman, id);
    const fallback = lines.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('using NETWORK=user'));
    expect(fallback, await explain(podman, id, 'the rootless fallback line')).toMatchObject({ rootless: true });
    expect(JSON.stringify(fallback?.['evidence']), await explain(podman, id, 'evidence')).toContain('/proc/self/uid_map maps uid 0 to host uid');
    expect(lines.find((l) => l['msg'] === 'QEMU slirp uses another guest network'), await explain(podman, id, 'slirp moved')).toMatchObject({ net: '10.0.3.0/24' });
    const reply = await guestThroughPublishedPort(podman, id);
    expect(reply, await explain(podman, id, 'guest reply')).toMatchObject({ port: 3389, ip: '10.0.3.15' });
    expect(await stopAndExitCode(podman, id), await explain(podman, id, 'exit code')).toBe(0);
  });
});
