/**
 * A long short-program (qemu-img convert, tar of a box) does not outlive windock: with
 * `dieWithParent` the kernel ends it when its parent dies by SIGKILL. The control case without
 * the option shows the program would otherwise survive (so the test can fail).
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { afterEach, expect, it } from 'vitest';
import { pollUntil } from '../fixtures/windock.js';

const RUN_PROGRAM = new URL('../../dist/process/run-program.js', import.meta.url).href;
const strays: number[] = [];
afterEach(() => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});

/** Alive and not a zombie waiting for init to reap it. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** The pids of `sleep` processes whose parent is `parent`. */
async function sleepChildren(parent: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === parent && stat.includes('(sleep)')) found.push(Number(entry));
  }
  return found;
}

async function orphanAfterParentKill(dieWithParent: boolean): Promise<boolean> {
  const script = `import(${JSON.stringify(RUN_PROGRAM)}).then((m) => m.runProgram(['sleep', '300'], { dieWithParent: ${dieWithParent} }));`;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  const started = await pollUntil(() => sleepChildren(parent.pid!), (pids) => pids.length > 0, 20_000);
  const sleeper = started.at(-1)![0]!;
  strays.push(sleeper);
  parent.kill('SIGKILL');
  const seen = await pollUntil(() => running(sleeper), (alive) => !alive, 5_000).catch(() => [true]);
  return seen.at(-1) === true;
}

it('a program run with dieWithParent ends when windock is killed with SIGKILL', async () => {
  expect(await orphanAfterParentKill(true), 'sleep still running after its parent died').toBe(false);
}, 60_000);

it('without it the program outlives its parent (the control case)', async () => {
  expect(await orphanAfterParentKill(false), 'sleep ended with its parent although nothing asked it to').toBe(true);
}, 60_000);
