#!/usr/bin/env node
/**
 * Download throughput: windock's download() (streamed, SHA-256 inline, durable checkpoints)
 * versus curl, from the same local HTTP server, in one run. Several alternating rounds; medians
 * and the ratio are printed. Target: windock ≥ 0.9 × curl.
 *
 *   npm run build && node bench/download.mjs [sizeMiB=512] [rounds=5]
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
  const body = randomBytes(size);
  const digest = createHash('sha256').update(body).digest('hex');
  const server = createServer((req, res) => {
    const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    const headers = { 'content-length': String(size - start), etag: '"bench"', 'accept-ranges': 'bytes' };
    if (match) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(match ? 206 : 200, headers);
    res.end(body.subarray(start));
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port, digest })}\n`);
  });
} else {
  await bench(Number(process.argv[2] ?? 512), Number(process.argv[3] ?? 5));
}

async function bench(sizeMiB, rounds) {
  const { download, defaultDownloadDeps } = await import('../dist/storage/download.js');
  const server = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve', String(sizeMiB)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port, digest } = await new Promise((resolve) =>
    createInterface({ input: server.stdout }).once('line', (line) => resolve(JSON.parse(line))),
  );
  const url = `http://127.0.0.1:${port}/bench.bin`;
  const dir = mkdtempSync(join(tmpdir(), 'windock-bench-download-'));
  const quiet = { info() {}, warn() {}, debug() {}, error() {}, child() { return quiet; } };
  const status = { update() {} };
  const results = { curl: [], curlSync: [], curlSha: [], windock: [], windockInline: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      // curl alone: the baseline (no hash).
      let t0 = performance.now();
      execFileSync('curl', ['-s', '-f', '-o', join(dir, 'curl.bin'), url]);
      results.curl.push(performance.now() - t0);
      // curl, then fdatasync of the file (`sync -d`): the same durability windock gives before
      // it renames a download into place.
      t0 = performance.now();
      execFileSync('curl', ['-s', '-f', '-o', join(dir, 'curl1.bin'), url]);
      execFileSync('sync', ['-d', join(dir, 'curl1.bin')]);
      results.curlSync.push(performance.now() - t0);
      // curl followed by sha256sum: what a script verifying its download pays.
      t0 = performance.now();
      execFileSync('curl', ['-s', '-f', '-o', join(dir, 'curl2.bin'), url]);
      const sum = execFileSync('sha256sum', [join(dir, 'curl2.bin')], { encoding: 'utf8' }).split(' ')[0];
      results.curlSha.push(performance.now() - t0);
      if (sum !== digest) throw new Error('curl fetched wrong bytes');
      // windock with its defaults (hash on the event loop), verified before the rename.
      t0 = performance.now();
      const result = await download(
        { log: quiet, status, signal: new AbortController().signal },
        { url, dir, fileName: `windock-${round}.bin`, sha256: digest },
        defaultDownloadDeps(),
      );
      results.windock.push(performance.now() - t0);
      if (result.sha256 !== digest) throw new Error('windock fetched wrong bytes');
      rmSync(join(dir, `windock-${round}.bin`));
      // The same with the hash in a worker thread (hashInWorker: true), for comparison.
      t0 = performance.now();
      const inline = await download(
        { log: quiet, status, signal: new AbortController().signal },
        { url, dir, fileName: `windock-${round}.bin`, sha256: digest, hashInWorker: true },
        defaultDownloadDeps(),
      );
      results.windockInline.push(performance.now() - t0);
      if (inline.sha256 !== digest) throw new Error('windock fetched wrong bytes');
      for (const f of ['curl.bin', 'curl1.bin', 'curl2.bin', `windock-${round}.bin`]) rmSync(join(dir, f), { force: true });
    }
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const bytes = sizeMiB * 2 ** 20;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (ms) => bytes / 2 ** 20 / (ms / 1000);
  const row = (name, xs) => `${name.padEnd(26)} median ${median(xs).toFixed(0).padStart(6)} ms  ${rate(median(xs)).toFixed(0).padStart(6)} MiB/s  (rounds: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
  console.log(`download of ${sizeMiB} MiB from 127.0.0.1, ${rounds} rounds, files in ${tmpdir()}`);
  console.log(row('curl', results.curl));
  console.log(row('curl + fdatasync', results.curlSync));
  console.log(row('curl + sha256sum', results.curlSha));
  console.log(row('windock (default)', results.windock));
  console.log(row('windock (hash in worker)', results.windockInline));
  console.log(`ratio windock/curl throughput: ${(median(results.curl) / median(results.windock)).toFixed(2)} (target ≥ 0.90)`);
  console.log(`ratio windock/(curl + fdatasync): ${(median(results.curlSync) / median(results.windock)).toFixed(2)}`);
  console.log(`ratio windock/(curl + sha256sum): ${(median(results.curlSha) / median(results.windock)).toFixed(2)}`);
}
