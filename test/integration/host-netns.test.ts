/**
 * NETWORK=tap in the host's own network namespace, with real namespaces: the probe in this test's
 * namespace (the machine's own: the initial namespace, hardware NICs) sees the host, a fresh
 * namespace with only a veth looks like a container, and one holding a `docker0` bridge — what
 * `docker run --network host` sees — makes the real binary exit 3 before it changes anything
 * (ip_forward stays 0) unless HOST_NETWORK=Y.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { hostNetnsEvidence } from '../../src/host/check.js';
import { defaultProbeDeps, probeNetns } from '../../src/host/probe.js';
import { createNetns, destroyAllNetns, type Netns } from '../fixtures/netns.js';
import { freePort, killRuns, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';

const run = promisify(execFile);
const DIST = fileURLToPath(new URL('../../dist/host/', import.meta.url));
const runs: WindockRun[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await killRuns(runs, dirs);
  await destroyAllNetns();
});
afterAll(destroyAllNetns);

/** hostNetnsEvidence as seen by a process inside `ns` (the built modules, run there). */
async function evidenceInside(ns: Netns): Promise<string[]> {
  const script = `
    const { defaultProbeDeps, probeNetns } = await import(${JSON.stringify(join(DIST, 'probe.js'))});
    const { hostNetnsEvidence } = await import(${JSON.stringify(join(DIST, 'check.js'))});
    console.log(JSON.stringify(hostNetnsEvidence(await probeNetns(defaultProbeDeps()))));`;
  const { stdout } = await run('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', script]);
  return JSON.parse(stdout) as string[];
}

describe('the host network namespace check', () => {
  it("sees this machine's own namespace as the host's", async () => {
    const facts = await probeNetns(defaultProbeDeps());
    expect(hostNetnsEvidence(facts), JSON.stringify(facts)).not.toEqual([]);
  });

  it('sees a namespace with only a veth as a container, and one with docker0 as the host', async () => {
    const ns = await createNetns();
    expect(await evidenceInside(ns)).toEqual([]);
    await ns.exec('ip', ['link', 'add', 'docker0', 'type', 'bridge']);
    expect(await evidenceInside(ns)).toEqual(["docker0 is a container engine's or cluster network's own interface"]);
  });

  async function hostLike(): Promise<{ ns: Netns; env: Record<string, string> }> {
    const ns = await createNetns({ ipForward: false });
    await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
    expect((await ns.exec('ip', ['link', 'add', 'docker0', 'type', 'bridge'])).exitCode).toBe(0);
    const dir = await tempDir('hostns');
    dirs.push(dir);
    // No disk and a BOOT that does not exist: a run that passes the preflight ends at the media (exit 4).
    const env = vmEnv(join(dir, 'storage'), join(dir, 'run'), await freePort(), { NETWORK: 'tap', BOOT: join(dir, 'absent.qcow2') });
    return { ns, env };
  }

  it('NETWORK=tap there exits 3 with the fix, before it sets ip_forward', async () => {
    const { ns, env } = await hostLike();
    const windock = startWindock({ env, prefix: ns.prefix });
    runs.push(windock);
    const { code } = await windock.exited;
    expect(code, tail(windock.lines)).toBe(3);
    const error = windock.lines.find((l) => l.level === 50);
    expect(error?.msg, tail(windock.lines)).toBe(
      "NETWORK=tap would forward every port of this network namespace to the guest, and it looks like the host's own: docker0 is a container engine's or cluster network's own interface",
    );
    expect(String(error?.['hint'])).toContain('HOST_NETWORK=Y');
    expect(String((await ns.exec('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout).trim()).toBe('0');
    expect(windock.lines.some((l) => l.msg === 'set net.ipv4.ip_forward=1')).toBe(false);
  });

  it('HOST_NETWORK=Y lets it through, with a warning', async () => {
    const { ns, env } = await hostLike();
    const windock = startWindock({ env: { ...env, HOST_NETWORK: 'Y' }, prefix: ns.prefix });
    runs.push(windock);
    const { code } = await windock.exited;
    expect(code, tail(windock.lines)).toBe(4);
    expect(windock.lines.some((l) => l.msg.startsWith('HOST_NETWORK=Y')), tail(windock.lines)).toBe(true);
    expect(windock.lines.some((l) => l.msg === 'host ready'), tail(windock.lines)).toBe(true);
  });
});
