/**
 * The web server on a host without IPv6: the real `windock` binary, run under a seccomp filter
 * that fails socket(AF_INET6) with EAFNOSUPPORT as a kernel booted with ipv6.disable=1 does
 * (test/fixtures/no-ipv6.c), still listens, on 0.0.0.0, and answers /health/live. In a network
 * namespace with IPv6 disabled by sysctl (Docker's `--sysctl net.ipv6.conf.all.disable_ipv6=1`)
 * "::" can still be bound, and IPv4 clients reach it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copyGuestDisk } from '../fixtures/guest.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { createNetns, destroyAllNetns } from '../fixtures/netns.js';
import { freePort, httpStatus, killRuns, pollUntil, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

const run = promisify(execFile);
const runs: WindockRun[] = [];
const dirs: string[] = [];
let media: TestHttpServer;
let noIpv6: string;

beforeAll(async () => {
  const dir = await tempDir('no-ipv6');
  dirs.push(dir);
  noIpv6 = join(dir, 'no-ipv6');
  await run('gcc', ['-O2', '-o', noIpv6, fileURLToPath(new URL('../fixtures/no-ipv6.c', import.meta.url))]);
  // Proof that the wrapper does what it claims, before windock is judged under it.
  const probe = await run(noIpv6, [process.execPath, '-e', "require('net').createServer().on('error', (e) => console.log(e.code)).listen({ port: 0, host: '::' }, () => console.log('bound'))"]);
  expect(probe.stdout.trim()).toBe('EAFNOSUPPORT');
  // A download that crawls keeps windock alive (in the downloading phase) while the test looks.
  media = await startHttpServer(() => ({ kind: 'serve', file: { body: Buffer.alloc(64 * 2 ** 20) }, bytesPerSecond: 16 * 1024 }));
});

afterAll(async () => {
  await killRuns(runs, dirs);
  await destroyAllNetns();
  await media?.close();
});

it('listens on 0.0.0.0 when the host has no IPv6, and says so', async () => {
  const dir = await tempDir('no-ipv6-run');
  dirs.push(dir);
  const port = await freePort();
  const windock = startWindock({ prefix: [noIpv6], env: vmEnv(join(dir, 'storage'), join(dir, 'run'), port, { BOOT: media.url('/slow.iso') }) });
  runs.push(windock);
  const listening = await windock.waitForLine((l) => l.msg === 'web server listening', 30_000);
  expect(listening.address, tail(windock.lines)).toBe('0.0.0.0');
  expect(windock.lines.some((l) => l.msg.startsWith('no IPv6 on this host') && l.code === 'EAFNOSUPPORT'), tail(windock.lines)).toBe(true);
  const seen = await pollUntil(() => httpStatus(`http://127.0.0.1:${port}/health/live`).then((r) => r.status), (s) => s === 200, 30_000);
  expect(seen.at(-1), `${tail(windock.lines)}\n${windock.stderr()}`).toBe(200);
  expect(windock.child.exitCode).toBeNull();
});

it('answers IPv4 clients in a namespace whose IPv6 is disabled by sysctl', async () => {
  const ns = await createNetns();
  const sysctl = await ns.exec('sysctl', ['-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.lo.disable_ipv6=1']);
  expect(sysctl.exitCode, String(sysctl.stderr)).toBe(0);
  const dir = await tempDir('no-ipv6-ns');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  // The test guest's disk: a VM keeps windock running (the namespace cannot reach a download).
  await copyGuestDisk(storage);
  const port = await freePort();
  const windock = startWindock({ prefix: ns.prefix, env: vmEnv(storage, join(dir, 'run'), port, { BOOT_MODE: 'legacy' }) });
  runs.push(windock);
  await windock.waitForLine((l) => l.msg === 'web server listening', 30_000);
  const seen = await pollUntil(() => httpStatus(`http://${ns.address}:${port}/health/live`).then((r) => r.status), (s) => s === 200, 30_000);
  expect(seen.at(-1), `${tail(windock.lines)}\n${windock.stderr()}`).toBe(200);
});
