import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { defaultStorageDeps, prepareStorage } from '../../src/storage/prepare.js';
import { HOST, makeContext } from '../unit/storage/context.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'windock-storage-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('prepareStorage with an existing disk', () => {
  it('reuses data.qcow2 as the first boot drive with UEFI vars copied once', async () => {
    const storage = tempDir();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(storage, 'data.qcow2'), '64M']);
    const ctx = makeContext({ STORAGE: storage, DISK_TYPE: 'blk' });
    const prepared = await prepareStorage(ctx, HOST);
    expect(prepared.systemDisk).toBe(join(storage, 'data.qcow2'));
    expect(prepared.drives).toEqual([
      { id: 'system', path: join(storage, 'data.qcow2'), format: 'qcow2', media: 'disk', bus: 'blk', readOnly: false, bootIndex: 1 },
    ]);
    expect(prepared.firmware).toEqual({ mode: 'uefi', code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: join(storage, 'uefi-vars.fd') });
    expect(JSON.parse(readFileSync(join(storage, 'windock.json'), 'utf8')).bootMode).toBe('uefi');

    // The guest's variable store is never overwritten by a later run.
    writeFileSync(join(storage, 'uefi-vars.fd'), 'guest data');
    await prepareStorage(makeContext({ STORAGE: storage }), HOST);
    expect(readFileSync(join(storage, 'uefi-vars.fd'), 'utf8')).toBe('guest data');

    await prepared.markBootedFromDisk();
    const state = JSON.parse(readFileSync(join(storage, 'windock.json'), 'utf8'));
    expect(state.install.bootedFromDisk).toBe(true);
  });

  it('reuses a raw data.img, keeps the recorded legacy mode, and uses the secure pair for BOOT_MODE=secure', async () => {
    const storage = tempDir();
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(storage, 'data.img'), '16M']);
    writeFileSync(join(storage, 'windock.json'), JSON.stringify({ schema: 1, bootMode: 'legacy' }));
    const legacy = await prepareStorage(makeContext({ STORAGE: storage }), HOST);
    expect(legacy.drives[0]!.format).toBe('raw');
    expect(legacy.firmware).toEqual({ mode: 'legacy' });

    const ctx = makeContext({ STORAGE: storage, BOOT_MODE: 'secure' });
    const secure = await prepareStorage(ctx, HOST);
    expect(secure.firmware).toEqual({
      mode: 'secure',
      code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
      vars: join(storage, 'uefi-vars-secure.fd'),
    });
    expect(readFileSync(join(storage, 'uefi-vars-secure.fd')).equals(readFileSync('/usr/share/OVMF/OVMF_VARS_4M.ms.fd'))).toBe(true);
    expect(ctx.lines.some((l) => l.level === 40 && String(l.msg).includes('BOOT_MODE=legacy'))).toBe(true);
  });

  it('creates a missing STORAGE and refuses to go on without a disk or media (exit 4)', async () => {
    const storage = join(tempDir(), 'new', 'storage');
    const error = await prepareStorage(makeContext({ STORAGE: storage }), HOST).catch((e: unknown) => e);
    expect(existsSync(storage)).toBe(true);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(4);
    expect((error as AppError).message).toMatch(/VERSION="11"/);
  });

  it('reports missing firmware as a host problem (exit 3)', async () => {
    const storage = tempDir();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(storage, 'data.qcow2'), '64M']);
    const error = await prepareStorage(makeContext({ STORAGE: storage }), HOST, defaultStorageDeps({ firmwareDir: tempDir() })).catch(
      (e: unknown) => e,
    );
    expect((error as AppError).exitCode).toBe(3);
    expect((error as AppError).hint).toMatch(/ovmf/);
  });
});
