#!/usr/bin/env node
/**
 * The cost of windock's forwarded port (NETWORK=tap): TCP throughput and connect latency from the
 * "Docker host" to the guest through the DNAT on the container's address, side by side with the
 * same transfer without the DNAT.
 *
 * Three network namespaces, nothing touches the machine's own:
 *
 *   host ──veth── container ──windock0 (bridge)── guest
 *                 (windock's network, built by dist/network/network.js: bridge, tap, iptables, dnsmasq)
 *
 * The guest is a stand-in: a namespace attached to windock's bridge by a veth, with the address
 * windock's DHCP would lease, running a Node TCP sink on 3389. The real test guest (busybox under
 * TCG) moves a few MB/s at most, which would measure the emulator, not the network path.
 *
 * Paths measured (same sink, same client code):
 *   dnat    host → container address:3389, DNAT to the guest (what a published port does)
 *   routed  host → guest address:3389 through the container as a router, no NAT (same hops)
 *   bridge  container → guest address:3389 across the bridge (no veth to the host, no NAT)
 *
 *   npm run build && node bench/network.mjs [MiB per transfer=256] [rounds=5] [connects per round=200]
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MIB = Number(process.argv[2] ?? 256);
const ROUNDS = Number(process.argv[3] ?? 5);
const CONNECTS = Number(process.argv[4] ?? 200);
const PORT = 3389;
const BUILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

const id = randomBytes(3).toString('hex');
const NS = { host: `wdbh-${id}`, container: `wdbc-${id}`, guest: `wdbg-${id}` };
const UPLINK = { host: '10.251.7.1', container: '10.251.7.2' };
const tmp = mkdtempSync(join(tmpdir(), 'windock-bench-net-'));
mkdirSync(join(tmp, 'storage'));
const children = [];

const sh = (file, args) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inside = (ns, file, args) => sh('ip', ['netns', 'exec', ns, file, ...args]);

/** Builds windock's tap network in the container namespace and keeps it until "close" on stdin. */
const DRIVER = `
const b = process.env.WD_BUILD;
const { resolveConfig } = await import(b + '/config/resolve.js');
const { createLogger } = await import(b + '/core/log.js');
const { StatusStore } = await import(b + '/supervisor/status.js');
const { StateFile } = await import(b + '/state/state-file.js');
const { preflight } = await import(b + '/host/preflight.js');
const { startNetwork } = await import(b + '/network/network.js');
const config = resolveConfig(JSON.parse(process.env.WD_ENV));
const log = createLogger({ level: 'warn', pretty: false, destination: { write: (s) => process.stderr.write(s) } });
const ctx = { config, log, status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal };
const session = await startNetwork(ctx, await preflight(ctx));
process.stdout.write(JSON.stringify({ plan: session.plan }) + '\\n');
process.stdin.on('data', async () => { await session.close(); process.exit(0); });
`;

/** The guest's sink: reads a whole transfer, answers with the byte count. */
const SINK = `
const { createServer } = await import('node:net');
createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); s.on('error', () => {}); })
  .listen(${PORT}, '0.0.0.0', () => console.log('listening'));
`;

/** One measurement from the client's namespace; prints JSON. argv: mode host mib|count */
const CLIENT = `
const { connect } = await import('node:net');
const [mode, host, amount] = process.argv.slice(1);
const port = ${PORT};
const once = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  const s = connect({ host, port }, () => { const t = process.hrtime.bigint() - t0; s.destroy(); resolve(Number(t) / 1e6); });
  s.on('error', reject);
});
if (mode === 'connect') {
  const times = [];
  for (let i = 0; i < Number(amount); i++) times.push(await once());
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ medianMs: times[times.length >> 1] }));
} else {
  const chunk = Buffer.alloc(1 << 20, 7);
  const total = Number(amount) * chunk.length;
  const t0 = process.hrtime.bigint();
  const s = connect({ host, port });
  let sent = 0, answer = '';
  const pump = () => { while (sent < total) { sent += chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
  s.on('connect', pump);
  s.on('data', (d) => (answer += d));
  s.on('end', () => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (Number(answer) !== total) { console.error('sink got ' + answer + ' of ' + total); process.exit(1); }
    console.log(JSON.stringify({ mibPerSecond: Number(amount) / seconds }));
  });
}
`;

function client(ns, mode, host, amount) {
  return JSON.parse(inside(ns, process.execPath, ['--input-type=module', '-e', CLIENT, mode, host, String(amount)]).trim());
}

function spawnInside(ns, args, env = {}) {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { PATH: process.env.PATH, ...env } });
  children.push(child);
  return child;
}

function firstLine(child, what) {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${what} exited ${code} before it was ready`)));
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

async function main() {
  for (const ns of Object.values(NS)) sh('ip', ['netns', 'add', ns]);
  for (const ns of Object.values(NS)) inside(ns, 'ip', ['link', 'set', 'lo', 'up']);
  // host ── container: the container's uplink eth0 with a default route, like Docker's bridge network.
  sh('ip', ['link', 'add', 'wdbh0', 'netns', NS.host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.container]);
  inside(NS.host, 'ip', ['addr', 'add', `${UPLINK.host}/24`, 'dev', 'wdbh0']);
  inside(NS.host, 'ip', ['link', 'set', 'wdbh0', 'up']);
  inside(NS.container, 'ip', ['addr', 'add', `${UPLINK.container}/24`, 'dev', 'eth0']);
  inside(NS.container, 'ip', ['link', 'set', 'eth0', 'up']);
  inside(NS.container, 'ip', ['route', 'add', 'default', 'via', UPLINK.host]);

  const driver = spawnInside(NS.container, [process.execPath, '--input-type=module', '-e', DRIVER], {
    WD_BUILD: BUILD,
    WD_ENV: JSON.stringify({ NETWORK: 'tap', KVM: 'N', RAM_SIZE: '256M', STORAGE: join(tmp, 'storage'), RUN_DIR: join(tmp, 'run') }),
  });
  const { plan } = JSON.parse(await firstLine(driver, 'windock network driver'));

  // The stand-in guest on windock's bridge, with the address windock's DHCP hands out.
  sh('ip', ['link', 'add', 'wdbg0', 'netns', NS.container, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.guest]);
  inside(NS.container, 'ip', ['link', 'set', 'wdbg0', 'master', plan.bridge]);
  inside(NS.container, 'ip', ['link', 'set', 'wdbg0', 'up']);
  inside(NS.guest, 'ip', ['addr', 'add', `${plan.guestAddress}/${plan.subnet.prefixLength}`, 'dev', 'eth0']);
  inside(NS.guest, 'ip', ['link', 'set', 'eth0', 'up']);
  inside(NS.guest, 'ip', ['route', 'add', 'default', 'via', plan.bridgeAddress]);
  // The routed baseline: the host reaches the guest subnet through the container, without DNAT.
  inside(NS.host, 'ip', ['route', 'add', `${plan.subnet.network}/${plan.subnet.prefixLength}`, 'via', UPLINK.container]);
  const sink = spawnInside(NS.guest, [process.execPath, '--input-type=module', '-e', SINK]);
  await firstLine(sink, 'sink');

  const paths = [
    { name: 'dnat', ns: NS.host, host: UPLINK.container, what: `host → ${UPLINK.container}:${PORT} (DNAT → ${plan.guestAddress})` },
    { name: 'routed', ns: NS.host, host: plan.guestAddress, what: `host → ${plan.guestAddress}:${PORT} via the container, no NAT` },
    { name: 'bridge', ns: NS.container, host: plan.guestAddress, what: `container → ${plan.guestAddress}:${PORT} across ${plan.bridge}` },
  ];
  const results = Object.fromEntries(paths.map((p) => [p.name, { throughput: [], latency: [] }]));
  // Warm-up (ARP, conntrack, JIT), then rounds that alternate the paths so drift hits all alike.
  for (const p of paths) client(p.ns, 'throughput', p.host, Math.min(MIB, 32));
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of paths) {
      results[p.name].throughput.push(client(p.ns, 'throughput', p.host, MIB).mibPerSecond);
      results[p.name].latency.push(client(p.ns, 'connect', p.host, CONNECTS).medianMs);
    }
  }

  console.log(`windock NETWORK=tap forwarded port: ${ROUNDS} rounds, ${MIB} MiB per transfer, ${CONNECTS} connects per round (median of per-round medians)`);
  console.log('guest: a stand-in namespace on windock\'s bridge with a Node TCP sink (the TCG test guest is too slow to measure a network)');
  for (const p of paths) console.log(`  ${p.name.padEnd(7)} ${p.what}`);
  const base = { throughput: median(results.routed.throughput), latency: median(results.routed.latency) };
  console.log('');
  console.log(`${'path'.padEnd(8)}${'MiB/s'.padStart(10)}${'vs routed'.padStart(11)}${'connect ms'.padStart(12)}${'vs routed'.padStart(11)}`);
  for (const p of paths) {
    const tp = median(results[p.name].throughput);
    const lat = median(results[p.name].latency);
    console.log(`${p.name.padEnd(8)}${tp.toFixed(0).padStart(10)}${(tp / base.throughput).toFixed(2).padStart(11)}${lat.toFixed(3).padStart(12)}${(lat / base.latency).toFixed(2).padStart(11)}`);
  }
  driver.stdin.write('close\n');
  await new Promise((resolve) => driver.once('exit', resolve));
}

try {
  await main();
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const ns of Object.values(NS)) {
    try {
      for (const pid of sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // namespace not created
    }
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      // not created
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}
