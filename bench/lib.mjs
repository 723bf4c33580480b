// Small helpers shared by the bench scripts: medians, ratios and a side-by-side table.
import { execFileSync } from 'node:child_process';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function table(title, rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  console.log(`\n${title}`);
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, i) => String(cell).padEnd(widths[i])).join('  '));
    if (index === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

export const ms = (v) => `${v.toFixed(0)} ms`;

/** Bytes a file or directory takes on disk (du -s -B1). */
export function du(path) {
  return Number(execFileSync('du', ['-s', '-B1', path], { encoding: 'utf8' }).split('\t')[0]);
}

/**
 * Makes a VM's disk from a golden base exactly as a windock start does (prepareStorage from
 * dist/: observe the base, create the overlay — or a copy with BOOT_COPY=Y in `settings` — and
 * check it), without the rest of a start; returns the storage actions with their durations.
 * Needs `npm run build`.
 */
export async function windockClone(storage, runDir, base, settings = {}) {
  const [{ resolveConfig }, { createLogger }, { StateFile }, { StatusStore }, { prepareStorage }, { Writable }] = await Promise.all([
    import('../dist/config/resolve.js'),
    import('../dist/core/log.js'),
    import('../dist/state/state-file.js'),
    import('../dist/supervisor/status.js'),
    import('../dist/storage/prepare.js'),
    import('node:stream'),
  ]);
  const host = { kvm: { present: false, usable: false, problem: 'bench' }, cpuVirtualization: undefined, tun: false, vhostNet: false, netAdmin: false, ipForward: false, iptablesBackend: undefined, memoryAvailableBytes: 2 ** 31, cpusAvailable: 2, programs: { passt: false, swtpm: false, dnsmasq: false } };
  // The log is kept for its figures: each storage action's own duration ("storage action done").
  const actions = [];
  const sink = new Writable({
    write(chunk, _e, done) {
      for (const text of String(chunk).split('\n').filter(Boolean)) {
        const line = JSON.parse(text);
        if (line.msg === 'storage action done') actions.push({ action: line.action, ms: line.ms });
      }
      done();
    },
  });
  const config = resolveConfig({ STORAGE: storage, RUN_DIR: runDir, BOOT: base, KVM: 'N', ...settings });
  const ctx = { config, log: createLogger({ level: 'info', pretty: false, destination: sink }), status: new StatusStore(), state: new StateFile(storage), signal: new AbortController().signal };
  await prepareStorage(ctx, host);
  return { actions };
}
