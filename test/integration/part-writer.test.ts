/**
 * The download's writer thread on real files: order and digest across many small hand-overs,
 * the kept prefix on reopen, chunks that share a buffer, back-pressure, and a full disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openPartWriter, PartWriteError, type PartWriter } from '../../src/storage/part-writer.js';
import { makeTempDirs } from './storage-helpers.js';

const temp = makeTempDirs();
const writers: PartWriter[] = [];
afterEach(async () => {
  for (const writer of writers.splice(0)) await writer.close();
  temp.cleanup();
});

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function open(path: string, keep: number | [number, number][], options: { batchBytes?: number; maxAheadBytes?: number } = {}): Promise<PartWriter> {
  const writer = await openPartWriter(path, { keep, ...options });
  writers.push(writer);
  return writer;
}

describe('part writer', () => {
  it('writes and hashes every chunk in order, and syncs up to all of them', async () => {
    const path = join(temp.make(), 'f.part');
    const data = randomBytes(3 * 2 ** 20 + 17);
    const writer = await open(path, 0, { batchBytes: 100_000 });
    // Odd-sized chunks, each the owner of its own buffer (as fetch hands them over).
    for (let at = 0; at < data.length; at += 65_521) {
      writer.append(new Uint8Array(data.subarray(at, at + 65_521)));
      await writer.waitForRoom();
    }
    expect(await writer.sync()).toEqual([[0, data.length]]);
    expect(await writer.digest()).toEqual({ sha256: sha(data), hashed: data.length });
    await writer.close();
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('copies a chunk that shares its buffer, leaving the caller’s bytes alone', async () => {
    const path = join(temp.make(), 'f.part');
    const shared = randomBytes(4096);
    const before = Buffer.from(shared);
    const writer = await open(path, 0);
    writer.append(shared.subarray(100, 300));
    writer.append(shared.subarray(1000, 1001));
    expect((await writer.digest()).sha256).toBe(sha(Buffer.concat([before.subarray(100, 300), before.subarray(1000, 1001)])));
    expect(shared.equals(before)).toBe(true);
  });

  it('keeps only the given prefix of an existing file, hashing it before the new bytes', async () => {
    const path = join(temp.make(), 'f.part');
    const kept = randomBytes(5 * 2 ** 20 + 3);
    writeFileSync(path, Buffer.concat([kept, Buffer.alloc(1000, 0xee)]));
    const tail = randomBytes(70_000);
    const writer = await open(path, kept.length);
    writer.append(new Uint8Array(tail));
    expect(await writer.sync()).toEqual([[0, kept.length + tail.length]]);
    expect((await writer.digest()).sha256).toBe(sha(Buffer.concat([kept, tail])));
    await writer.close();
    expect(readFileSync(path).equals(Buffer.concat([kept, tail]))).toBe(true);
  });

  it('refuses to keep more than the file holds', async () => {
    const path = join(temp.make(), 'f.part');
    writeFileSync(path, randomBytes(10));
    await expect(openPartWriter(path, { keep: 11 })).rejects.toThrow(/shorter than 11 bytes/);
  });

  it('holds the reader back while more than maxAheadBytes are on their way', async () => {
    const path = join(temp.make(), 'f.part');
    const writer = await open(path, 0, { batchBytes: 2 ** 20, maxAheadBytes: 2 ** 20 });
    for (let i = 0; i < 3; i++) writer.append(new Uint8Array(2 ** 20));
    expect(writer.bytesInFlight).toBe(3 * 2 ** 20);
    // The thread's acknowledgements arrive as events, after this microtask continuation: had
    // waitForRoom not waited for them, all 3 MiB would still be in flight here.
    await writer.waitForRoom();
    expect(writer.bytesInFlight).toBeLessThanOrEqual(2 ** 19);
    expect(await writer.sync()).toEqual([[0, 3 * 2 ** 20]]);
  });

  it('writes streams at their positions and hashes the file in order, reading back what the frontier reaches', async () => {
    const path = join(temp.make(), 'f.part');
    const data = randomBytes(4 * 2 ** 20 + 5);
    const writer = await open(path, 0, { batchBytes: 64 * 1024 });
    const quarter = 2 ** 20;
    const streams = [3, 1, 2, 0].map((i) => ({ i, stream: writer.stream(i * quarter), end: i === 3 ? data.length : (i + 1) * quarter }));
    // Interleaved, the last quarter first: only the first stream is at the hash's frontier.
    for (let at = 0; at < data.length - 3 * quarter; at += 50_000) {
      for (const { i, stream, end } of streams) {
        const from = i * quarter + at;
        if (from < end) stream.append(new Uint8Array(data.subarray(from, Math.min(end, from + 50_000))));
      }
      await writer.waitForRoom();
    }
    expect(streams.map(({ stream, end }) => stream.position === end)).toEqual([true, true, true, true]);
    expect(await writer.sync()).toEqual([[0, data.length]]);
    expect(await writer.digest()).toEqual({ sha256: sha(data), hashed: data.length });
    await writer.close();
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('keeps durable ranges with gaps, hashing only up to the first gap until it is filled', async () => {
    const path = join(temp.make(), 'f.part');
    const data = randomBytes(3 * 2 ** 20);
    const MiB = 2 ** 20;
    // A part whose second MiB never became durable (garbage there), and torn bytes past the end.
    writeFileSync(path, Buffer.concat([data.subarray(0, MiB), randomBytes(MiB), data.subarray(2 * MiB), randomBytes(999)]));
    const writer = await open(path, [[0, MiB], [2 * MiB, 3 * MiB]]);
    expect(writer.position).toBe(MiB);
    expect(await writer.sync()).toEqual([[0, MiB], [2 * MiB, 3 * MiB]]);
    writer.stream(MiB).append(new Uint8Array(data.subarray(MiB, 2 * MiB)));
    expect(await writer.sync()).toEqual([[0, 3 * MiB]]);
    expect(await writer.digest()).toEqual({ sha256: sha(data), hashed: data.length });
    await writer.close();
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('reports how far the in-order hash got when a gap is left', async () => {
    const path = join(temp.make(), 'f.part');
    const writer = await open(path, 0);
    writer.append(new Uint8Array(1000));
    writer.stream(5000).append(new Uint8Array(1000));
    expect(await writer.sync()).toEqual([[0, 1000], [5000, 6000]]);
    expect((await writer.digest()).hashed).toBe(1000);
  });

  it('fails every later call with the write error when the disk is full, keeping the bytes before it', async () => {
    const path = join(temp.makeTmpfs('1m'), 'f.part');
    const data = randomBytes(2 * 2 ** 20);
    const writer = await open(path, 0, { batchBytes: 256 * 1024 });
    let failure: unknown;
    try {
      for (let at = 0; at < data.length; at += 65_536) {
        writer.append(new Uint8Array(data.subarray(at, at + 65_536)));
        await writer.waitForRoom();
      }
      await writer.sync();
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(PartWriteError);
    expect((failure as PartWriteError).code).toBe('ENOSPC');
    await expect(writer.sync()).rejects.toBe(failure);
    await expect(writer.digest()).rejects.toBe(failure);
    expect(() => writer.append(new Uint8Array(1))).toThrow(failure as Error);
    await writer.close();
    const written = readFileSync(path);
    expect(written.length).toBeGreaterThan(0);
    expect(written.equals(data.subarray(0, written.length))).toBe(true);
  });
});
