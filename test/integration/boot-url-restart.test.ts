/**
 * BOOT as a URL through the real binary, with a SIGKILL and then a stop in the middle of the
 * download: each next start resumes where the last durable record says (after a SIGKILL at most
 * one checkpoint interval back; after a stop, nothing lost), the last one verifies the whole file
 * against BOOT_SHA256 and boots the guest from an overlay on it. One connection (CONNECTIONS=1):
 * the resume of pieces over several is download-kill.test.ts's.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { sha256File } from '../fixtures/digest.js';
import { copyGuestDisk, readShutdownMarker } from '../fixtures/guest.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { freePort, killRuns, serialLine, startWindock, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

/** download.ts's default: bytes between two durable checkpoints. */
const CHECKPOINT = 64 * 2 ** 20;
const MiB = 2 ** 20;

const runs: WindockRun[] = [];
let server: TestHttpServer | undefined;
let dir = '';
afterAll(async () => {
  await killRuns(runs);
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('resumes a download cut by SIGKILL or stopped by SIGTERM on the next start, verifies it and boots from it', async () => {
  dir = await tempDir('boot-url');
  // The raw test guest grown to 256 MiB (zeros after its partitions): four checkpoint intervals.
  const image = await copyGuestDisk(join(dir, 'served'), 'guest.img');
  execFileSync('qemu-img', ['resize', '-q', '-f', 'raw', image, '256M']);
  const body = readFileSync(image);
  const digest = sha256File(image);
  // The first two answers are throttled so that the kill and the stop land mid-body.
  server = await startHttpServer(({ index }) => ({ kind: 'serve', file: { body, etag: '"guest-1"' }, bytesPerSecond: index < 2 ? 24 * MiB : undefined }));
  const storage = join(dir, 'storage');
  const sidecarPath = join(storage, 'guest.img.part.json');
  const readSidecar = () => JSON.parse(readFileSync(sidecarPath, 'utf8')) as { bytesDone: number; etag: string; url: string };
  const start = async (): Promise<WindockRun> => {
    const env = vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT: server!.url('/images/guest.img'), BOOT_SHA256: digest, BOOT_MODE: 'legacy', DISK_SIZE: '256M', CONNECTIONS: '1' });
    const run = startWindock({ env });
    runs.push(run);
    return run;
  };
  const downloaded = (run: WindockRun, bytes: number) => run.waitForLine((l) => l.msg === 'downloading' && Number(l.bytesDone) >= bytes, 120_000);

  // 1. SIGKILL at 112 MiB or more (two seconds after the first checkpoint began): the sidecar
  //    keeps the last durable checkpoint.
  const first = await start();
  const reported = Number((await downloaded(first, 112 * MiB)).bytesDone);
  first.kill('SIGKILL');
  expect((await first.exited).signal).toBe('SIGKILL');
  const killed = readSidecar();
  expect(killed).toMatchObject({ etag: '"guest-1"', url: server.url('/images/guest.img') });
  // Never past what the first run had received, at most one checkpoint interval behind it.
  expect(killed.bytesDone).toBeLessThanOrEqual(server.requests[0]!.bytesSent);
  expect(killed.bytesDone).toBeGreaterThanOrEqual(reported - CHECKPOINT);

  // 2. Resumed from there, then a stop (docker stop) at 192 MiB or more: exit 0, and everything
  //    received so far is made durable and recorded.
  const second = await start();
  const reportedAtStop = Number((await downloaded(second, 192 * MiB)).bytesDone);
  second.kill('SIGTERM');
  expect((await second.exited).code).toBe(0);
  expect(server.requests[1]).toMatchObject({ range: `bytes=${killed.bytesDone}-`, ifRange: '"guest-1"', status: 206 });
  const stopped = readSidecar();
  expect(stopped.bytesDone).toBeGreaterThanOrEqual(reportedAtStop);
  expect(stopped.bytesDone).toBeLessThanOrEqual(killed.bytesDone + server.requests[1]!.bytesSent);

  // 3. The rest at full speed, verified, then the guest boots from an overlay on the download.
  const third = await start();
  await third.waitForLine(serialLine('windock-guest: acpid ready'), 180_000);
  third.kill('SIGTERM');
  expect((await third.exited).code).toBe(0);
  expect(server.requests).toHaveLength(3);
  expect(server.requests[2]).toMatchObject({ range: `bytes=${stopped.bytesDone}-`, status: 206, bytesSent: body.length - stopped.bytesDone });
  expect(third.lines.some((l) => l.msg === 'resuming the download' && l.bytesDone === stopped.bytesDone)).toBe(true);

  // The download is the served file, untouched by the guest: its writes (the shutdown marker)
  // went to the overlay.
  expect(sha256File(join(storage, 'guest.img'))).toBe(digest);
  expect(await readShutdownMarker(join(storage, 'data.qcow2'))).toEqual({ count: 1 });
});
