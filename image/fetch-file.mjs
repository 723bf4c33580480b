// Build-time download for the optional virtio-win ISO: the image has no curl, and Node (there
// anyway) has fetch. Streams to `<dest>.part`, checks the SHA-256 when given, then renames.
// Usage: node fetch-file.mjs <url> <sha256 or ""> <dest>
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [url, expected, dest] = process.argv.slice(2);
if (!url || !dest) {
  console.error('usage: node fetch-file.mjs <url> <sha256 or ""> <dest>');
  process.exit(2);
}
const response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30 * 60_000) });
if (!response.ok || !response.body) {
  console.error(`GET ${url} answered ${response.status} ${response.statusText}, expected 200`);
  process.exit(1);
}
const hash = createHash('sha256');
const tap = new Transform({
  transform(chunk, _encoding, done) {
    hash.update(chunk);
    done(null, chunk);
  },
});
await pipeline(Readable.fromWeb(response.body), tap, createWriteStream(`${dest}.part`));
const actual = hash.digest('hex');
if (expected && actual !== expected.toLowerCase()) {
  await rm(`${dest}.part`, { force: true });
  console.error(`SHA-256 of ${url} is ${actual}, expected ${expected}`);
  process.exit(1);
}
await rename(`${dest}.part`, dest);
console.log(`${dest}: sha256 ${actual}`);
