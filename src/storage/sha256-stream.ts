/**
 * SHA-256 of a stream fed piece by piece, either inline on the calling thread or in a worker
 * thread. The worker variant takes the hashing (≈1.2 ms per MiB with SHA-NI) off the event loop
 * that parses the HTTP body, so that network, hash and disk run on separate cores; each piece is
 * copied once to the worker (structured clone of a 1 MiB buffer: cheap next to hashing it).
 * bench/download.mjs measures both.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Sha256Stream {
  update(data: Uint8Array): void;
  /** The digest of everything fed so far; the stream cannot be fed afterwards. */
  digest(): Promise<string>;
  /** Releases the worker, if any. Idempotent. */
  close(): Promise<void>;
}

export function inlineSha256(): Sha256Stream {
  const hash = createHash('sha256');
  return {
    update: (data) => void hash.update(data),
    digest: async () => hash.digest('hex'),
    close: async () => undefined,
  };
}

// CommonJS because `eval: true` workers run as scripts; a string keeps the worker independent of
// where the compiled file lives (dist/, vitest's TypeScript transform, a transpiled test copy).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', (message) => {
  if (message === 'digest') parentPort.postMessage(hash.digest('hex'));
  else hash.update(message);
});
`;

export function workerSha256(): Sha256Stream {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  let closed = false;
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  failed.catch(() => undefined);
  return {
    update: (data) => worker.postMessage(data),
    digest: () =>
      Promise.race([
        new Promise<string>((resolve) => {
          worker.once('message', (digest: string) => resolve(digest));
          worker.postMessage('digest');
        }),
        failed,
      ]),
    close: async () => {
      if (closed) return;
      closed = true;
      await worker.terminate();
    },
  };
}
