// Build-time download of the virtio-win archive: the build stage has no curl, and Node (there
// anyway) has fetch. Streams to `<dest>.part`, renames once complete; the Dockerfile checks the
// SHA-256 with sha256sum afterwards.
// Usage: node fetch-file.mjs <url> <dest>
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [url, dest] = process.argv.slice(2);
if (!url || !dest) {
  console.error('usage: node fetch-file.mjs <url> <dest>');
  process.exit(2);
}
const response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30 * 60_000) }).catch((error) => {
  console.error(`GET ${url} failed: ${error.cause?.message ?? error.message}`);
  process.exit(1);
});
if (!response.ok || !response.body) {
  console.error(`GET ${url} answered ${response.status} ${response.statusText}, expected 200`);
  process.exit(1);
}
await pipeline(Readable.fromWeb(response.body), createWriteStream(`${dest}.part`));
await rename(`${dest}.part`, dest);
console.log(`${url} -> ${dest}`);
