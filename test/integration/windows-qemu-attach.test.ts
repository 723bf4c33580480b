/**
 * The setup image and the install ISO as the real argv builder attaches them, started in a real
 * QEMU (paused, `-S`) for each firmware mode; QMP `query-block` shows what the guest would see,
 * and in secure mode `query-tpm` the swtpm TPM. Pins the argv fragments the Windows layer relies
 * on: a read-only removable USB disk for the setup image, an optical drive for the ISO.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTpm, type TpmSession } from '../../src/tpm/swtpm.js';
import { createLogger } from '../../src/core/log.js';
import { buildQemuArgs } from '../../src/qemu/args.js';
import type { DriveSpec, FirmwareSpec, VmSpec } from '../../src/qemu/vm-spec.js';
import { buildSetupImage } from '../../src/windows/setup-image.js';
import { killChild } from '../fixtures/child.js';
import { qmpAsk } from '../fixtures/qmp-ask.js';

let dir: string;
let qemu: ChildProcess | undefined;
let tpm: TpmSession | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-attach-'));
});
afterEach(async () => {
  await killChild(qemu);
  qemu = undefined;
  await tpm?.close();
  tpm = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function firmwareFor(mode: 'legacy' | 'uefi' | 'secure'): Promise<FirmwareSpec> {
  if (mode === 'legacy') return { mode };
  const vars = join(dir, `vars-${mode}.fd`);
  await copyFile(mode === 'secure' ? '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' : '/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  return { mode, code: mode === 'secure' ? '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd' : '/usr/share/OVMF/OVMF_CODE_4M.fd', vars };
}

describe.each(['legacy', 'uefi', 'secure'] as const)('BOOT_MODE=%s', (mode) => {
  it('attaches the ISO as a cdrom and the setup image as a read-only removable USB disk', async () => {
    await mkdir(join(dir, 'run'));
    const system = join(dir, 'data.qcow2');
    await execa('qemu-img', ['create', '-f', 'qcow2', system, '1G']);
    const iso = join(dir, 'windows.iso');
    await writeFile(iso, Buffer.alloc(2 * 2 ** 20));
    const setup = await buildSetupImage({ path: join(dir, 'run', 'windock-setup.img'), answerFile: '<unattend/>', oemDir: undefined, driverDir: undefined, virtioOs: 'w11' });
    const drives: DriveSpec[] = [
      { id: 'system', path: system, format: 'qcow2', media: 'disk', bus: 'sata', readOnly: false, bootIndex: 1 },
      { id: 'install', path: iso, format: 'raw', media: 'cdrom', bus: 'sata', readOnly: true, bootIndex: 0 },
      setup.drive,
    ];
    if (mode === 'secure') {
      const log = createLogger({ level: 'info', pretty: false, destination: new Writable({ write: (_c, _e, done) => done() }) });
      tpm = await startTpm({ config: { storage: join(dir, 'storage'), runDir: join(dir, 'run') } as never, log, signal: new AbortController().signal });
    }
    const spec: VmSpec = {
      name: 'windock', accel: 'tcg', ramBytes: 256 * 2 ** 20, cpuCores: 1,
      firmware: await firmwareFor(mode), drives, network: { mode: 'none' },
      qmpSocket: join(dir, 'run', 'qmp.sock'), vncSocket: join(dir, 'run', 'vnc.sock'),
      tpmSocket: tpm?.socket, extraArgs: ['-S'],
    };
    const args = buildQemuArgs(spec);
    // The argv fragments the Windows layer relies on.
    const devices = args.filter((_, i) => args[i - 1] === '-device');
    expect(devices).toContain('usb-storage,drive=setup,bus=xhci.0,removable=on');
    expect(devices.some((d) => d.startsWith('ide-cd,drive=install,') && d.endsWith('bootindex=0'))).toBe(true);
    expect(args.some((a) => a.startsWith('node-name=setup-file,') && a.includes('read-only=on'))).toBe(true);

    qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr?.on('data', (d) => (stderr += String(d)));
    for (const deadline = Date.now() + 30_000; !(await readdir(join(dir, 'run'))).includes('qmp.sock'); await sleep(50)) {
      if (qemu.exitCode !== null || Date.now() > deadline) throw new Error(`QEMU did not start: ${stderr}`);
    }
    const [blocks, tpms] = (await qmpAsk(spec.qmpSocket, ['query-block', ...(mode === 'secure' ? ['query-tpm'] : [])])) as [
      { qdev?: string; removable: boolean; inserted?: { ro: boolean; file: string } }[],
      unknown[] | undefined,
    ];
    const byFile = (file: string) => blocks.find((b) => b.inserted?.file === file);
    expect(byFile(setup.drive.path)?.inserted?.ro).toBe(true);
    expect(byFile(iso)).toMatchObject({ removable: true, inserted: { ro: true } });
    expect(byFile(system)?.inserted?.ro).toBe(false);
    if (mode === 'secure') expect(tpms).toEqual([{ id: 'tpm0', model: 'tpm-crb', options: { type: 'emulator', data: { chardev: 'chrtpm' } } }]);
  });
});
