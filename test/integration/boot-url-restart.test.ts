/**
 * BOOT as a URL through the real binary, with a SIGKILL in the middle of the download: the next
 * start resumes from the last durable checkpoint (re-fetching at most one checkpoint interval),
 * verifies the whole file against BOOT_SHA256, and boots the guest from an overlay on it.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { sha256File } from '../fixtures/digest.js';
import { copyGuestDisk, readShutdownMarker } from '../fixtures/guest.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { freePort, serialLine, startWindock, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

/** download.ts's default: bytes between two durable checkpoints. */
const CHECKPOINT = 16 * 2 ** 20;

const runs: WindockRun[] = [];
let server: TestHttpServer | undefined;
let dir = '';
afterAll(async () => {
  for (const run of runs) run.kill('SIGKILL');
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('resumes a download cut by SIGKILL on the next start, verifies it and boots from it', async () => {
  dir = await tempDir('boot-url');
  // The raw test guest (64 MiB): four checkpoint intervals.
  const image = await copyGuestDisk(join(dir, 'served'), 'guest.img');
  const body = readFileSync(image);
  const digest = sha256File(image);
  // The first answer is throttled so that the kill lands mid-body; later ones run at full speed.
  server = await startHttpServer(({ index }) => ({ kind: 'serve', file: { body, etag: '"guest-1"' }, bytesPerSecond: index === 0 ? 8 * 2 ** 20 : undefined }));
  const storage = join(dir, 'storage');
  const env = async () =>
    vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT: server!.url('/images/guest.img'), BOOT_SHA256: digest, BOOT_MODE: 'legacy', DISK_SIZE: '64M' });

  const first = startWindock({ env: await env() });
  runs.push(first);
  const progress = await first.waitForLine((l) => l.msg === 'downloading' && Number(l.bytesDone) >= 40 * 2 ** 20, 120_000);
  first.kill('SIGKILL');
  expect((await first.exited).signal).toBe('SIGKILL');
  const sidecar = JSON.parse(readFileSync(join(storage, 'guest.img.part.json'), 'utf8')) as { bytesDone: number; etag: string; url: string };
  expect(sidecar).toMatchObject({ etag: '"guest-1"', url: server.url('/images/guest.img') });

  const second = startWindock({ env: await env() });
  runs.push(second);
  await second.waitForLine(serialLine('windock-guest: acpid ready'), 180_000);
  second.kill('SIGTERM');
  expect((await second.exited).code).toBe(0);

  // One resume request, from the durable length the sidecar named: never past what the first run
  // had received, at most one checkpoint interval behind what it had reported.
  expect(server.requests).toHaveLength(2);
  const resume = server.requests[1]!;
  expect(resume).toMatchObject({ range: `bytes=${sidecar.bytesDone}-`, ifRange: '"guest-1"', status: 206, bytesSent: body.length - sidecar.bytesDone });
  expect(sidecar.bytesDone).toBeLessThanOrEqual(server.requests[0]!.bytesSent);
  expect(sidecar.bytesDone).toBeGreaterThanOrEqual(Number(progress.bytesDone) - CHECKPOINT);
  expect(second.lines.some((l) => l.msg === 'resuming the download' && l.bytesDone === sidecar.bytesDone)).toBe(true);

  // The downloaded file is the served one, untouched by the guest: its writes (the shutdown
  // marker) went to the overlay.
  const downloaded = join(storage, 'guest.img');
  expect(sha256File(downloaded)).toBe(digest);
  expect(await readShutdownMarker(join(storage, 'data.qcow2'))).toEqual({ count: 1 });
});
