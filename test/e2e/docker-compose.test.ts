/**
 * The README's first command with the repository's own compose.yml, unmodified: `docker compose
 * up` with the Compose v2 plugin and again with Debian bookworm's `docker-compose` 1.29, each with
 * an override that only swaps the Windows download for the test guest as BOOT under TCG, then the
 * newcomer's checks: /health/ready, RDP on the published port, and `stop` ending in exit 0 with
 * the guest shut down.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TEST_IMAGE, buildWindockImage, containerState, ensureBaseImage, ensureDockerEngine } from '../fixtures/docker.js';
import { copyGuestDisk, readShutdownMarker, tcpLine, parseGuestReply } from '../fixtures/guest.js';
import { httpStatus, pollUntil } from '../fixtures/windock.js';

const engine = await ensureDockerEngine({ uid: process.getuid?.() ?? -1 });
if (!engine.available) console.warn(`[compose e2e] skipped: ${engine.reason}`);

/**
 * The Compose implementations users have: the v2 plugin (`docker compose`, what the README
 * says; scripts/install-compose-v2.sh) and Debian bookworm's Python `docker-compose` 1.29.
 */
const implementations = [
  { name: 'docker compose (v2 plugin)', argv: ['docker', 'compose'], missing: 'no `docker compose` plugin (scripts/install-compose-v2.sh)' },
  { name: 'docker-compose 1.29 (Debian bookworm)', argv: ['docker-compose'], missing: 'no docker-compose on PATH (Debian package docker-compose)' },
].map((implementation) => ({ ...implementation, available: works(implementation.argv) }));
for (const { name, available, missing } of implementations) if (!available) console.warn(`[compose e2e] ${name} skipped: ${missing}`);

const projects: { dir: string; argv: string[] }[] = [];
const composeArgs = (...args: string[]): string[] => ['-p', 'windock-compose-test', '-f', 'compose.yml', '-f', 'compose.override.yml', ...args];

/** A project directory: the unmodified compose.yml, and an override that boots the test guest. */
async function makeProject(): Promise<string> {
  const project = await mkdtemp(join(tmpdir(), 'windock-compose-'));
  await copyFile(join(REPO_ROOT, 'compose.yml'), join(project, 'compose.yml'));
  // The base is mounted at the same path inside, so the overlay's backing path also resolves
  // on the host, where the test reads the guest's marker.
  const base = await copyGuestDisk(join(project, 'base'), 'guest.qcow2');
  await writeFile(
    join(project, 'compose.override.yml'),
    [
      'services:',
      '  windows:',
      `    image: ${TEST_IMAGE}`,
      '    environment:',
      `      BOOT: ${base}`,
      '      KVM: "N"',
      '      RAM_SIZE: "256M"',
      '      CPU_CORES: "1"',
      '      DISK_SIZE: "64M"',
      '      BOOT_MODE: legacy',
      '    volumes:',
      `      - ${join(project, 'base')}:${join(project, 'base')}:ro`,
      '',
    ].join('\n'),
  );
  return project;
}

describe.skipIf(!engine.available)('docker compose up with the repository compose.yml', () => {
  beforeAll(async () => {
    await ensureBaseImage();
    await buildWindockImage();
  });

  afterEach(async () => {
    for (const { dir, argv } of projects.splice(0)) {
      await execa(argv[0]!, [...argv.slice(1), ...composeArgs('down', '-v')], { cwd: dir, reject: false });
      await rm(dir, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    if (engine.available) await engine.stop();
  });

  for (const { name, argv, available } of implementations) {
    it.skipIf(!available)(`${name}: comes up, answers on the published RDP port, and stops with the guest shut down`, async () => {
      const dir = await makeProject();
      projects.push({ dir, argv });
      const compose = (...args: string[]) => execa(argv[0]!, [...argv.slice(1), ...composeArgs(...args)], { cwd: dir, timeout: 180_000 });
      await compose('up', '-d', '--no-build');
      await pollUntil(() => httpStatus('http://127.0.0.1:8006/health/ready').then((r) => r.status), (s) => s === 200, 240_000, 500);
      expect(parseGuestReply(await tcpLine('127.0.0.1', 3389))).toMatchObject({ port: 3389 });

      await compose('stop');
      const state = await containerState('windows');
      expect(state.ExitCode).toBe(0);
      expect(await readShutdownMarker(join(dir, 'windows', 'data.qcow2'))).toEqual({ count: 1 });
    });
  }
});

/** True when `argv version` runs (the program, or the docker CLI plugin, is there). */
function works(argv: string[]): boolean {
  try {
    execFileSync(argv[0]!, [...argv.slice(1), 'version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
