/**
 * Fuzzing the real HTTP server of a running windock (issue 11: no input crashes the process).
 * The real `windock` binary boots the test guest under TCG with the viewer token on and
 * VIEW_ONLY=Y (so that the RFB filter parses what the bridge receives); once /health is 200,
 * more than 10,000 hostile inputs generated from a seeded PRNG (http-fuzz-cases.ts) are sent over
 * raw TCP, many at a time. After every batch windock must be alive and /health must answer 200.
 * A response may refuse anything, but never with 500 (a handler that threw) and never with the
 * token unless the input carried it.
 *
 * Replay a failure with the seed it printed: FUZZ_SEED=<seed> npx vitest run --project integration test/integration/http-fuzz.test.ts
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tokenCookieName } from '../../src/http/auth.js';
import { copyGuestDisk, ensureTestGuest } from '../fixtures/guest.js';
import { createPrng, fuzzSeed } from '../fixtures/prng.js';
import { rawExchange } from '../fixtures/raw-http.js';
import { freePort, httpStatus, killRuns, pollUntil, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';
import { generateCase, KINDS, type FuzzCase, type Kind } from './http-fuzz-cases.js';

const TOKEN = 'fuzz-token-0123456789abcdefghij';
const TOTAL = 10_500;
const BATCH = 500;
const CONCURRENCY = 48;
/** Log lines that only a handler that threw writes (src/http/guard.ts, viewer.ts, vnc-bridge.ts). */
const HANDLER_FAILED = /handler failed/;

const runs: WindockRun[] = [];
const dirs: string[] = [];
let windock: WindockRun;
let port: number;

beforeAll(async () => {
  await ensureTestGuest();
  const dir = await tempDir('http-fuzz');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  await copyGuestDisk(storage);
  port = await freePort();
  windock = startWindock({
    env: vmEnv(storage, join(dir, 'run'), port, { BOOT_MODE: 'legacy', WEB_AUTH: 'Y', WEB_TOKEN: TOKEN, VIEW_ONLY: 'Y', DEBUG: 'N' }),
  });
  runs.push(windock);
  await pollUntil(() => httpStatus(`http://127.0.0.1:${port}/health`).then((r) => r.status), (s) => s === 200, 120_000);
}, 1_200_000);

afterAll(async () => {
  await killRuns(runs, dirs);
});

function describeCase(c: FuzzCase): string {
  return `case ${c.index} (${c.kind}): ${JSON.stringify(c.steps.map((s) => ('write' in s ? { write: Buffer.from(s.write).toString('latin1').slice(0, 300) } : s)))}`;
}

async function assertHealthy(seed: number, done: number): Promise<void> {
  const health = await httpStatus(`http://127.0.0.1:${port}/health`);
  const context = `seed ${seed}, after ${done} inputs; windock's log tail:\n${tail(windock.lines, 15)}\n${windock.stderr().slice(-2000)}`;
  expect(windock.child.exitCode, `windock exited: ${context}`).toBeNull();
  expect(health.status, `/health: ${context}`).toBe(200);
}

it(`survives ${TOTAL} malformed and hostile inputs with /health 200 after every batch of ${BATCH}`, async () => {
  const seed = fuzzSeed(process.env);
  console.log(`http fuzz: seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const prng = createPrng(seed);
  const ctx = { token: TOKEN, cookieName: tokenCookieName(TOKEN) };
  const counts = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const statuses = new Map<number | 'none', number>();
  const problems: string[] = [];

  for (let start = 0; start < TOTAL; start += BATCH) {
    // Generated up front, in order: the inputs depend on the seed only, not on timing.
    const batch = Array.from({ length: Math.min(BATCH, TOTAL - start) }, (_, i) => generateCase(start + i, prng, ctx));
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let c = batch[next++]; c !== undefined; c = batch[next++]) {
        const result = await rawExchange({ host: '127.0.0.1', port, capMs: c.capMs, lingerMs: 20 }, c.steps);
        counts[c.kind]++;
        statuses.set(result.status ?? 'none', (statuses.get(result.status ?? 'none') ?? 0) + 1);
        if (result.status === 500) problems.push(`500 for ${describeCase(c)}`);
        if (!c.withToken && result.received.includes(TOKEN)) problems.push(`token in the answer to ${describeCase(c)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await assertHealthy(seed, start + batch.length);
    expect(problems, `seed ${seed}`).toEqual([]);
  }

  const failedHandlers = windock.lines.filter((l) => HANDLER_FAILED.test(l.msg));
  expect(failedHandlers.map((l) => JSON.stringify(l)), `seed ${seed}: a handler threw`).toEqual([]);
  // The inputs got past the HTTP layer: viewers were bridged to QEMU and the RFB filter refused garbage.
  const said = (msg: string): number => windock.lines.filter((l) => l.msg === msg).length;
  const depth = { bridged: said('viewer connected'), rfbRefused: said('view-only viewer sent an unparsable RFB stream; closing it') };
  console.log(`http fuzz: windock's log counts ${JSON.stringify(depth)}`);
  expect(depth.bridged, tail(windock.lines)).toBeGreaterThan(0);
  expect(depth.rfbRefused, tail(windock.lines)).toBeGreaterThan(0);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`http fuzz: seed ${seed}; inputs per kind ${JSON.stringify(counts)}; total ${total}`);
  console.log(`http fuzz: first status line of the answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  expect(total).toBeGreaterThanOrEqual(10_000);
  for (const kind of KINDS) expect(counts[kind], kind).toBeGreaterThan(0);
}, 900_000);
