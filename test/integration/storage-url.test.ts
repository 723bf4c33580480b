/** BOOT as a URL through prepareStorage: downloaded into STORAGE, verified, then used as media. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { prepareStorage } from '../../src/storage/prepare.js';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';
import { HOST, makeContext } from '../unit/storage/context.js';
import { makeTempDirs } from './storage-helpers.js';

const temp = makeTempDirs();
let server: TestHttpServer | undefined;
afterEach(async () => {
  await server?.close();
  temp.cleanup();
});

function makeIso(): Buffer {
  const dir = temp.make();
  mkdirSync(join(dir, 'iso'));
  writeFileSync(join(dir, 'iso', 'SETUP.TXT'), 'setup');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', join(dir, 'win.iso'), join(dir, 'iso')], { stdio: 'ignore' });
  return readFileSync(join(dir, 'win.iso'));
}

describe('BOOT as a URL', () => {
  it('downloads a verified ISO into STORAGE and installs from it; the query string is never recorded', async () => {
    const iso = makeIso();
    const digest = createHash('sha256').update(iso).digest('hex');
    server = await startHttpServer(() => ({ kind: 'serve', file: { body: iso, etag: '"iso"' } }));
    const storage = temp.make();
    const boot = `${server.url('/media/win.iso')}?sig=abc123`;
    const ctx = makeContext({ STORAGE: storage, BOOT: boot, BOOT_SHA256: digest, DISK_SIZE: '1G' });
    const prepared = await prepareStorage(ctx, HOST);
    expect(prepared.drives.map((d) => [d.id, d.path, d.bootIndex])).toEqual([
      ['install', join(storage, 'win.iso'), 1],
      ['system', join(storage, 'data.qcow2'), 2],
    ]);
    const state = JSON.parse(readFileSync(join(storage, 'windock.json'), 'utf8'));
    expect(state.media).toMatchObject({ source: server.url('/media/win.iso'), kind: 'iso', path: join(storage, 'win.iso') });
    expect(readFileSync(join(storage, 'windock.json'), 'utf8')).not.toContain('abc123');
    expect(JSON.stringify(ctx.lines)).not.toContain('abc123');

    // A restart attaches the same ISO without downloading again.
    const again = await prepareStorage(makeContext({ STORAGE: storage, BOOT: boot, BOOT_SHA256: digest, DISK_SIZE: '1G' }), HOST);
    expect(again.drives[0]!.path).toBe(join(storage, 'win.iso'));
    expect(server.requests).toHaveLength(1);
  });

  it('keeps nothing and creates no disk when BOOT_SHA256 does not match (exit 4)', async () => {
    const iso = makeIso();
    server = await startHttpServer(() => ({ kind: 'serve', file: { body: iso, etag: '"iso"' } }));
    const storage = temp.make();
    const wrong = '0'.repeat(64);
    const error = await prepareStorage(makeContext({ STORAGE: storage, BOOT: server.url('/win.iso'), BOOT_SHA256: wrong }), HOST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(4);
    expect((error as AppError).message).toContain(`expected ${wrong}`);
    expect(existsSync(join(storage, 'data.qcow2'))).toBe(false);
    expect(readdirSync(storage).filter((f) => f.startsWith('win.iso'))).toEqual([]);
  });
});
