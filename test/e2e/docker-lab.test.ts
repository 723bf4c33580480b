/**
 * The golden-image lab (examples/lab/compose.yml) under a real Docker engine: two containers made
 * from the example's own service definition (its environment, devices, capabilities, sysctls and
 * volumes — Debian's docker.io has no compose plugin, so the service is turned into `docker run`
 * arguments here) boot one read-only base at the same time, each through its own overlay on its
 * own anonymous /storage volume, and the base is not written.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  REPO_ROOT,
  TEST_IMAGE,
  buildWindockImage,
  containerState,
  docker,
  ensureBaseImage,
  ensureDockerEngine,
  publishedPort,
  removeContainer,
  waitHealthy,
} from '../fixtures/docker.js';
import { sha256File } from '../fixtures/digest.js';
import { copyGuestDisk, parseGuestReply, tcpLine } from '../fixtures/guest.js';

const engine = await ensureDockerEngine({ uid: process.getuid?.() ?? -1 });
if (!engine.available) console.warn(`[docker lab e2e] skipped: ${engine.reason}`);

const REPLICAS = 2;
/** What a test under TCG on a small machine changes in the example: nothing else. */
const TEST_ENV = { KVM: 'N', RAM_SIZE: '256M', CPU_CORES: '1' };

interface ComposeService {
  environment: Record<string, string>;
  devices: string[];
  cap_add: string[];
  sysctls: string[];
  volumes: string[];
}

/**
 * `docker run` arguments for the subset of the Compose spec the lab uses. Relative bind sources
 * resolve against `projectDir`, as Compose resolves them against the compose file's directory.
 */
function runArgs(service: ComposeService, projectDir: string): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries({ ...service.environment, ...TEST_ENV })) args.push('--env', `${name}=${value}`);
  for (const device of service.devices) args.push('--device', device);
  for (const cap of service.cap_add) args.push('--cap-add', cap);
  for (const sysctl of service.sysctls) args.push('--sysctl', sysctl);
  for (const volume of service.volumes) args.push('--volume', volume.startsWith('./') ? join(projectDir, volume.slice(2)) : volume);
  return args;
}

let project: string;
let golden: string;
let goldenHash: string;
const containers: string[] = [];

describe.skipIf(!engine.available)('the golden-image lab under Docker', () => {
  beforeAll(async () => {
    await ensureBaseImage();
    // The image test builds it too; Docker's layer cache makes the second build take seconds.
    await buildWindockImage();
    project = await mkdtemp(join(tmpdir(), 'windock-lab-'));
    await mkdir(join(project, 'base'));
    golden = await copyGuestDisk(join(project, 'base'), 'golden.qcow2');
    await chmod(golden, 0o444);
    goldenHash = sha256File(golden);
  });

  afterAll(async () => {
    for (const id of containers) await removeContainer(id);
    if (project) await rm(project, { recursive: true, force: true });
    if (engine.available) await engine.stop();
  });

  it('boots every replica from the one read-only base, each on its own overlay', async () => {
    const compose = parseYaml(await readFile(join(REPO_ROOT, 'examples', 'lab', 'compose.yml'), 'utf8')) as {
      services: Record<string, ComposeService>;
    };
    const service = Object.values(compose.services)[0]!;
    const args = runArgs(service, project);

    for (let i = 0; i < REPLICAS; i++) {
      const run = await docker(
        ['run', '--detach', ...args, '--publish', '127.0.0.1::3389/tcp', '--health-interval', '2s', '--health-retries', '3', TEST_IMAGE],
        { timeoutMs: 60_000 },
      );
      containers.push(String(run.stdout).trim());
    }
    for (const id of containers) await waitHealthy(id, { deadlineMs: 300_000 });

    // Each replica answers on its own published port.
    const replies: string[] = [];
    for (const id of containers) {
      const { host, port } = await publishedPort(id, '3389/tcp');
      const deadline = Date.now() + 180_000;
      let line: string | undefined;
      while (!(line && parseGuestReply(line)) && Date.now() < deadline) {
        // Not up yet: the connection is refused or closes without a line; try again.
        line = await tcpLine(host, port, 5_000).catch(() => undefined);
        if (!line) await new Promise((r) => setTimeout(r, 1_000));
      }
      expect(parseGuestReply(line ?? ''), `replica ${id.slice(0, 12)} answers`).toMatchObject({ port: 3389 });
      replies.push(line!);
    }

    // /storage: an anonymous volume per container (what Compose does for each replica).
    const sources = new Set<string>();
    for (const id of containers) {
      const mounts = await docker(['inspect', '--format', '{{json .Mounts}}', id], { timeoutMs: 15_000 });
      const storage = (JSON.parse(String(mounts.stdout)) as { Type: string; Destination: string; Name?: string; RW: boolean }[]).find(
        (m) => m.Destination === '/storage',
      );
      expect(storage).toMatchObject({ Type: 'volume', RW: true });
      sources.add(storage!.Name!);
      // Its disk is an overlay over the shared base (qemu-img inside: the base path is the container's).
      const listing = await docker(['exec', id, 'ls', '/storage'], { timeoutMs: 30_000 });
      const disks = String(listing.stdout).split('\n').filter((name) => name.endsWith('.qcow2'));
      expect(disks).toHaveLength(1);
      const overlay = await docker(['exec', id, 'qemu-img', 'info', '-U', '--output=json', `/storage/${disks[0]}`], { timeoutMs: 30_000 });
      expect(JSON.parse(String(overlay.stdout))).toMatchObject({ 'backing-filename': '/base/golden.qcow2' });
    }
    expect(sources.size).toBe(REPLICAS);

    for (const id of containers) {
      await docker(['stop', '--time', '120', id], { timeoutMs: 150_000 });
      expect(await containerState(id)).toMatchObject({ Running: false, ExitCode: 0 });
    }
    // The base stayed read-only and unchanged.
    expect((await stat(golden)).mode & 0o222).toBe(0);
    expect(sha256File(golden)).toBe(goldenHash);
  });
});
