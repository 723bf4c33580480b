/**
 * The test guest as a local BOOT qcow2 golden base: prepareStorage layers an overlay on it, real
 * QEMU (TCG) boots the drives and firmware it returns through the real argv builder, the guest
 * writes its shutdown marker into the overlay, and the base stays byte-identical. Two instances
 * run at once on one base, each with its own overlay.
 */
import { execa } from 'execa';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildQemuArgs } from '../../src/qemu/args.js';
import type { VmSpec } from '../../src/qemu/vm-spec.js';
import { prepareStorage, type PreparedStorage } from '../../src/storage/prepare.js';
import { ensureTestGuest, GUEST_LOG_PREFIX, readShutdownMarker } from '../fixtures/guest.js';
import { HOST, makeContext } from '../unit/storage/context.js';
import { makeTempDirs } from './storage-helpers.js';
import { sha256File } from '../fixtures/digest.js';

const temp = makeTempDirs();
const golden = makeTempDirs();
afterEach(() => temp.cleanup());
afterAll(() => golden.cleanup());

let base = '';
beforeAll(async () => {
  // A private copy of the cached guest as the golden base, so its digest is ours to watch.
  const dir = golden.make('windock-golden-');
  base = join(dir, 'golden.qcow2');
  copyFileSync(await ensureTestGuest(), base);
});

/** Boots the prepared drives until the guest powers itself off (poweroff-after), within a deadline. */
async function boot(prepared: PreparedStorage, runDir: string): Promise<string[]> {
  const spec: VmSpec = {
    name: 'storage-test',
    accel: 'tcg',
    ramBytes: 256 * 2 ** 20,
    cpuCores: 1,
    firmware: prepared.firmware,
    drives: prepared.drives,
    network: { mode: 'none' },
    qmpSocket: join(runDir, 'qmp.sock'),
    vncSocket: join(runDir, 'vnc.sock'),
    tpmSocket: undefined,
    extraArgs: ['-fw_cfg', 'name=opt/windock/poweroff-after,string=1'],
  };
  const result = await execa('qemu-system-x86_64', buildQemuArgs(spec), {
    timeout: 170_000,
    reject: false,
    stdin: 'ignore',
    forceKillAfterDelay: 2000,
  });
  const lines = result.stdout.split('\n').filter((l) => l.includes(GUEST_LOG_PREFIX));
  expect(result.exitCode, `${result.stderr}\n${lines.join('\n')}`).toBe(0);
  return lines;
}

describe('the test guest as a golden base', () => {
  it('boots from its overlay; the marker lands in the overlay, the base is byte-identical', async () => {
    const before = sha256File(base);
    const storage = temp.make();
    const ctx = makeContext({ STORAGE: storage, BOOT: base, DISK_TYPE: 'blk' });
    const prepared = await prepareStorage(ctx, HOST);
    expect(prepared.systemDisk).toBe(join(storage, 'data.qcow2'));
    const lines = await boot(prepared, storage);
    expect(lines.some((l) => l.includes('marker written count=1'))).toBe(true);
    expect(await readShutdownMarker(prepared.systemDisk)).toEqual({ count: 1 });
    expect(await readShutdownMarker(base)).toBeNull();
    expect(sha256File(base)).toBe(before);
    await prepared.markBootedFromDisk();
  });

  it('boots the overlay under OVMF with BOOT_MODE=uefi, with its own variable store in STORAGE', async () => {
    const storage = temp.make();
    const prepared = await prepareStorage(makeContext({ STORAGE: storage, BOOT: base, BOOT_MODE: 'uefi' }), HOST);
    expect(prepared.firmware).toEqual({ mode: 'uefi', code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: join(storage, 'uefi-vars.fd') });
    const lines = await boot(prepared, storage);
    expect(lines.some((l) => l.includes('marker written count=1'))).toBe(true);
    expect(await readShutdownMarker(prepared.systemDisk)).toEqual({ count: 1 });
  });

  it('runs two instances on one base at once, each with its own overlay', async () => {
    const before = sha256File(base);
    const storages = [temp.make(), temp.make()];
    const prepared = await Promise.all(storages.map((s) => prepareStorage(makeContext({ STORAGE: s, BOOT: base, DISK_TYPE: 'sata' }), HOST)));
    await Promise.all(prepared.map((p, i) => boot(p, storages[i]!)));
    for (const p of prepared) expect(await readShutdownMarker(p.systemDisk)).toEqual({ count: 1 });
    // A second boot of the first instance counts on in its own overlay only.
    await boot(await prepareStorage(makeContext({ STORAGE: storages[0]!, BOOT: base, DISK_TYPE: 'sata' }), HOST), storages[0]!);
    expect(await readShutdownMarker(prepared[0]!.systemDisk)).toEqual({ count: 2 });
    expect(await readShutdownMarker(prepared[1]!.systemDisk)).toEqual({ count: 1 });
    expect(await readShutdownMarker(base)).toBeNull();
    expect(sha256File(base)).toBe(before);
  });
});
