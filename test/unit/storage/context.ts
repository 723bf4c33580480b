/**
 * A real RunContext for storage tests: a parsed config over a temp STORAGE, a logger whose lines
 * are kept for assertions, a real StatusStore and StateFile.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { RunContext } from '../../../src/supervisor/context.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { createLogger } from '../../../src/core/log.js';
import { StateFile } from '../../../src/state/state-file.js';
import { downloadProgressTo, StatusStore } from '../../../src/supervisor/status.js';
import type { HostFacts } from '../../../src/host/facts.js';

export interface TestContext extends RunContext {
  /** The store itself, for tests that script it (a run's stages get it read-only). */
  status: StatusStore;
  lines: Record<string, unknown>[];
  abort: AbortController;
}

export function makeContext(env: Record<string, string>): TestContext {
  const config = resolveConfig({ KVM: 'N', RUN_DIR: join(tmpdir(), 'windock-test-run'), ...env });
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const abort = new AbortController();
  const status = new StatusStore();
  return {
    config,
    log: createLogger({ level: 'debug', pretty: false, destination }),
    status,
    onDownloadProgress: downloadProgressTo(status),
    state: new StateFile(config.storage),
    signal: abort.signal,
    lines,
    abort,
  };
}

export const HOST: HostFacts = {
  kvm: { present: false, usable: false, problem: 'tests run under TCG' },
  cpuVirtualization: undefined,
  tun: false,
  vhostNet: false,
  netAdmin: false,
  ipForward: false,
  iptablesBackend: undefined,
  memoryAvailableBytes: 2 ** 31,
  cpusAvailable: 2,
  programs: { passt: false, swtpm: false, dnsmasq: false },
  netns: { netInode: undefined, pidInode: undefined, pid1NetInode: undefined, links: undefined },
};
