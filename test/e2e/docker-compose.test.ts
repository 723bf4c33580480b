/**
 * The README's first command with the repository's own compose.yml, unmodified: `docker compose
 * up` (Debian's `docker-compose`), an override that only swaps the Windows download for the test
 * guest as BOOT under TCG, then the newcomer's checks: /health/ready, RDP on the published port,
 * and `docker compose stop` ending in exit 0 with the guest shut down.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TEST_IMAGE, buildWindockImage, containerState, ensureBaseImage, ensureDockerEngine } from '../fixtures/docker.js';
import { copyGuestDisk, readShutdownMarker, tcpLine, parseGuestReply } from '../fixtures/guest.js';
import { httpStatus, pollUntil } from '../fixtures/windock.js';

const engine = await ensureDockerEngine({ uid: process.getuid?.() ?? -1 });
const compose = which('docker-compose');
const skipReason = !engine.available ? engine.reason : !compose ? 'no docker-compose on PATH (Debian package docker-compose)' : undefined;
if (skipReason) console.warn(`[compose e2e] skipped: ${skipReason}`);

let project = '';
const composeArgs = (...args: string[]): string[] => ['-p', 'windock-compose-test', '-f', 'compose.yml', '-f', 'compose.override.yml', ...args];

describe.skipIf(skipReason !== undefined)('docker compose up with the repository compose.yml', () => {
  beforeAll(async () => {
    await ensureBaseImage();
    await buildWindockImage();
    project = await mkdtemp(join(tmpdir(), 'windock-compose-'));
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
  });

  afterAll(async () => {
    if (project) {
      await execa('docker-compose', composeArgs('down', '-v'), { cwd: project, reject: false });
      await rm(project, { recursive: true, force: true });
    }
    if (engine.available) await engine.stop();
  });

  it('comes up, answers on the published RDP port, and stops with the guest shut down', async () => {
    await execa('docker-compose', composeArgs('up', '-d', '--no-build'), { cwd: project });
    await pollUntil(() => httpStatus('http://127.0.0.1:8006/health/ready').then((r) => r.status), (s) => s === 200, 240_000, 500);
    expect(parseGuestReply(await tcpLine('127.0.0.1', 3389))).toMatchObject({ port: 3389 });

    await execa('docker-compose', composeArgs('stop'), { cwd: project, timeout: 180_000 });
    const state = await containerState('windows');
    expect(state.ExitCode).toBe(0);
    expect(await readShutdownMarker(join(project, 'windows', 'data.qcow2'))).toEqual({ count: 1 });
  });
});

function which(program: string): string | undefined {
  try {
    return execFileSync('which', [program], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
