#!/usr/bin/env node
/**
 * Download throughput: windock's download() (streamed, SHA-256 while downloading, durable
 * checkpoints) versus curl from the same local HTTP server, in one run: curl alone, curl with
 * fdatasync, curl with a SHA-256 check (sequential with sha256sum or openssl, or piped through
 * tee), and fetch reading the body alone. Rounds rotate the order; medians and ratios are printed.
 * Target (issue 4): at least 0.9 × curl with the hash included. windock runs with one connection
 * (CONNECTIONS=1) and with four (CONNECTIONS=4, the default); target (issue 13): on a server that
 * caps each connection, four reach at least 3.5 × one.
 *
 *   npm run build && node bench/download.mjs [sizeMiB=512] [rounds=5] [serverMiBps=0] [variants]
 *
 * variants: a comma-separated subset of the names below (default: all), e.g.
 * `curl,aria2c4,windock,windock4` for the multi-connection comparison.
 *
 * serverMiBps paces each connection like a network link (119 ≈ 1 Gbit/s), as a CDN caps each
 * connection: a client with four connections may get four times it; 0 is loopback's full speed,
 * where the machine's cores, not the link, set the pace. aria2c (Debian aria2, -x4 -s4) is the
 * 4-connection peer.
 *
 * The server runs in its own process (this file with --serve) so that it does not share the
 * event loop with the downloader under test; curl is Debian's `curl`.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

if (process.argv[2] === '--serve') {
  const size = Number(process.argv[3]) * 2 ** 20;
  // Bytes per millisecond, or 0 for as fast as loopback goes.
  const pace = (Number(process.argv[4] ?? 0) * 2 ** 20) / 1000;
  const body = randomBytes(size);
  const digest = createHash('sha256').update(body).digest('hex');
  const server = createServer((req, res) => {
    // `bytes=N-` (a resume) and `bytes=N-M` (one segment of a multi-connection client).
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    const end = match && match[2] ? Math.min(size, Number(match[2]) + 1) : size;
    // A new connection per download, as curl makes: no variant inherits a pooled socket that the
    // server's keep-alive timeout may close under it.
    const headers = { 'content-length': String(end - start), etag: '"bench"', 'accept-ranges': 'bytes', connection: 'close' };
    if (match) headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
    res.writeHead(match ? 206 : 200, headers);
    if (!pace) {
      res.end(body.subarray(start, end));
      return;
    }
    // A link of the given speed per connection (as a CDN caps each one): every response is paced
    // on its own clock, 256 KiB at a time, never ahead of it.
    const began = performance.now();
    let sent = start;
    const next = () => {
      while (sent < end) {
        const ahead = (sent - start) / pace - (performance.now() - began);
        if (ahead > 1) return void setTimeout(next, ahead);
        const slice = body.subarray(sent, Math.min(end, sent + 256 * 1024));
        sent += slice.length;
        if (!res.write(slice)) return void res.once('drain', next);
      }
      res.end();
    };
    next();
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port, digest })}\n`);
  });
} else {
  await bench(Number(process.argv[2] ?? 512), Number(process.argv[3] ?? 5), Number(process.argv[4] ?? 0), process.argv[5]);
}

async function bench(sizeMiB, rounds, rateMiB, only) {
  const { download, defaultDownloadDeps } = await import('../dist/storage/download.js');
  const server = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve', String(sizeMiB), String(rateMiB)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port, digest } = await new Promise((resolve) =>
    createInterface({ input: server.stdout }).once('line', (line) => resolve(JSON.parse(line))),
  );
  const url = `http://127.0.0.1:${port}/bench.bin`;
  const dir = mkdtempSync(join(tmpdir(), 'windock-bench-download-'));
  const quiet = { info() {}, warn() {}, debug() {}, error() {}, child() { return quiet; } };
  const onProgress = () => {};
  const out = join(dir, 'out.bin');
  const variants = {
    // curl alone: the baseline (no hash, no sync).
    curl: async () => {
      execFileSync('curl', ['-s', '-f', '-o', out, url]);
    },
    // curl, then fdatasync of the file (`sync -d`): the durability windock gives before it
    // renames a download into place.
    curlSync: async () => {
      execFileSync('curl', ['-s', '-f', '-o', out, url]);
      execFileSync('sync', ['-d', out]);
    },
    // curl followed by sha256sum: what a script verifying its download pays.
    curlSha: async () => {
      execFileSync('curl', ['-s', '-f', '-o', out, url]);
      const sum = execFileSync('sha256sum', [out], { encoding: 'utf8' }).split(' ')[0];
      if (sum !== digest) throw new Error('curl fetched wrong bytes');
    },
    // curl, then OpenSSL's SHA-256 (SHA-NI, as fast as Node's): the quickest sequential check.
    curlOpenssl: async () => {
      execFileSync('curl', ['-s', '-f', '-o', out, url]);
      checkOpenssl(execFileSync('openssl', ['dgst', '-sha256', '-r', out], { encoding: 'utf8' }));
    },
    // curl | tee FILE | openssl: the file and the hash at once, what a careful script does.
    curlTeeOpenssl: async () => {
      const curl = spawn('curl', ['-s', '-f', url], { stdio: ['ignore', 'pipe', 'inherit'] });
      const tee = spawn('tee', [out], { stdio: [curl.stdout, 'pipe', 'inherit'] });
      const openssl = spawn('openssl', ['dgst', '-sha256', '-r'], { stdio: [tee.stdout, 'pipe', 'inherit'] });
      let text = '';
      openssl.stdout.on('data', (chunk) => (text += chunk));
      // openssl: 'close', not 'exit' (its output may still be in the pipe when it has exited);
      // curl and tee: 'exit' (their stdout went on to the next program, not to this one).
      const ended = (child, event) => new Promise((resolve) => child.once(event, resolve));
      await Promise.all([ended(curl, 'exit'), ended(tee, 'exit'), ended(openssl, 'close')]);
      checkOpenssl(text);
    },
    // aria2c (Debian aria2) with 4 connections, each a Range segment, then openssl: the
    // multi-connection peer (CONNECTIONS=4) on a server that caps each connection.
    aria2c4: async () => {
      execFileSync('aria2c', ['-q', '-x4', '-s4', '-k1M', '--file-allocation=none', '--allow-overwrite=true', '--auto-file-renaming=false', '-d', dir, '-o', 'out.bin', url]);
      checkOpenssl(execFileSync('openssl', ['dgst', '-sha256', '-r', out], { encoding: 'utf8' }));
    },
    // Node's fetch reading the body and dropping it: the floor of any fetch-based download on
    // this machine (no hash, no file).
    fetchOnly: async () => {
      const response = await fetch(url);
      for await (const chunk of response.body) void chunk;
    },
    // windock on one connection (hash and writes in its writer thread, a checkpoint every
    // 64 MiB, fdatasync before the rename), verified against the digest.
    windock: () => runWindock(1),
    // windock with its default CONNECTIONS=4: pieces of the file over four connections at once.
    windock4: () => runWindock(4),
  };
  const runWindock = async (connections) => {
    // Memory: the process's resident size above where it started, sampled while it runs.
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    const result = await download(
      { log: quiet, onProgress, signal: new AbortController().signal },
      { url, dir, fileName: 'out.bin', sha256: digest, connections },
      defaultDownloadDeps(),
    );
    clearInterval(sampler);
    (rssGrowth[connections] ??= []).push(Math.max(peak, process.memoryUsage.rss()) - baseline);
    if (result.sha256 !== digest) throw new Error('windock fetched wrong bytes');
  };
  const rssGrowth = {};
  const checkOpenssl = (text) => {
    if (text.split(' ')[0] !== digest) throw new Error('curl fetched wrong bytes');
  };
  const names = only ? only.split(',') : Object.keys(variants);
  for (const name of names) if (!variants[name]) throw new Error(`no variant ${name}; there are ${Object.keys(variants).join(', ')}`);
  const results = Object.fromEntries(names.map((name) => [name, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      // The order rotates, and every run starts with no dirty pages (`sync`, untimed), so that
      // no variant pays for the writeback of the one before it.
      for (let i = 0; i < names.length; i++) {
        const name = names[(round + i) % names.length];
        execFileSync('sync');
        const t0 = performance.now();
        await variants[name]();
        results[name].push(performance.now() - t0);
        rmSync(out, { force: true });
      }
    }
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const bytes = sizeMiB * 2 ** 20;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (ms) => bytes / 2 ** 20 / (ms / 1000);
  const row = (name, xs) => `${name.padEnd(26)} median ${median(xs).toFixed(0).padStart(6)} ms  ${rate(median(xs)).toFixed(0).padStart(6)} MiB/s  (rounds: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
  const link = rateMiB ? `, the server paced at ${rateMiB} MiB/s` : '';
  console.log(`download of ${sizeMiB} MiB from 127.0.0.1${link}, ${rounds} rounds, files in ${tmpdir()}`);
  const labels = {
    curl: 'curl',
    curlSync: 'curl + fdatasync',
    curlSha: 'curl, then sha256sum',
    curlOpenssl: 'curl, then openssl sha256',
    curlTeeOpenssl: 'curl | tee | openssl sha256',
    fetchOnly: 'fetch, body dropped',
    aria2c4: 'aria2c -x4 -s4, then openssl',
    windock: 'windock, 1 connection',
    windock4: 'windock, 4 connections',
  };
  for (const name of names) console.log(row(labels[name], results[name]));
  for (const [connections, growth] of Object.entries(rssGrowth)) {
    console.log(`windock's resident memory grew by ${(median(growth) / 2 ** 20).toFixed(0)} MiB at most during a download with ${connections} connection(s) (median; rounds: ${growth.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')}), for a ${sizeMiB} MiB file`);
  }
  // Each round ran every variant on the same machine state: the median of the per-round ratios
  // is steadier than the ratio of medians on a noisy host. Both are printed. A ratio is
  // windock's throughput over the baseline's (above 1: windock is faster).
  for (const own of names.filter((n) => n.startsWith('windock'))) {
    const paired = (baseline) => median(baseline.map((ms, i) => ms / results[own][i]));
    for (const name of names.filter((n) => n !== own)) {
      console.log(`${labels[own]} / (${labels[name]}): ${(median(results[name]) / median(results[own])).toFixed(2)} of medians, ${paired(results[name]).toFixed(2)} median of rounds`);
    }
  }
}
