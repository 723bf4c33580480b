/**
 * swtpm as windock runs it, with QEMU started with the TPM and secure-boot arguments the argv
 * builder produces for BOOT_MODE=secure (q35 with SMM, secure pflash, OVMF secboot code with
 * Microsoft keys, `-chardev socket … -tpmdev emulator … -device tpm-crb`), on the test guest disk.
 * Checks: swtpm runs; QMP query-tpm shows the emulator TPM; the TPM is initialized through the
 * socket (swtpm writes its permanent state); close() stops swtpm; swtpm also ends when QEMU goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { startTpm, type TpmSession } from '../../src/tpm/swtpm.js';
import { copyGuestDisk } from '../fixtures/guest.js';
import { killChild, processAlive } from '../fixtures/child.js';

let dir: string;
let qemu: ChildProcess | undefined;
let tpm: TpmSession | undefined;
const logLines: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-tpm-'));
  logLines.length = 0;
});
afterEach(async () => {
  await killChild(qemu);
  qemu = undefined;
  await tpm?.close();
  tpm = undefined;
  await rm(dir, { recursive: true, force: true });
});

function context(signal = new AbortController().signal) {
  const destination = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ level: 'debug', pretty: false, destination });
  return { config: { storage: join(dir, 'storage'), runDir: join(dir, 'run') } as never, log, signal };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A minimal QMP exchange: greeting, qmp_capabilities, one command; events are skipped. */
async function qmp(socketPath: string, command: string): Promise<unknown> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(socketPath, () => resolve(s));
    s.once('error', reject);
  });
  try {
    let buffer = '';
    const messages: Record<string, unknown>[] = [];
    socket.on('data', (d) => {
      buffer += String(d);
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i).trim();
        buffer = buffer.slice(i + 1);
        if (line) messages.push(JSON.parse(line) as Record<string, unknown>);
      }
    });
    const next = async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const index = messages.findIndex((m) => !('event' in m));
        if (index >= 0) return messages.splice(index, 1)[0]!;
        if (Date.now() > deadline) throw new Error('QMP answer timeout');
        await sleep(20);
      }
    };
    expect(await next()).toHaveProperty('QMP');
    socket.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
    expect(await next()).toHaveProperty('return');
    socket.write(`${JSON.stringify({ execute: command })}\n`);
    const answer = await next();
    if ('error' in answer) throw new Error(JSON.stringify(answer.error));
    return answer['return'];
  } finally {
    socket.destroy();
  }
}

async function startSecureQemu(tpmSocket: string): Promise<{ qmpSocket: string }> {
  const disk = await copyGuestDisk(dir);
  const vars = join(dir, 'vars.fd');
  await copyFile('/usr/share/OVMF/OVMF_VARS_4M.ms.fd', vars);
  const qmpSocket = join(dir, 'qmp.sock');
  // What buildQemuArgs emits for firmware mode 'secure' with VmSpec.tpmSocket set.
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none', '-m', '256M',
    '-machine', 'q35,vmport=off,pflash0=fw-code,pflash1=fw-vars,smm=on', '-accel', 'tcg', '-cpu', 'max',
    '-blockdev', 'node-name=fw-code,driver=file,filename=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd,read-only=on',
    '-blockdev', `node-name=fw-vars,driver=file,filename=${vars}`,
    '-global', 'driver=cfi.pflash01,property=secure,value=on',
    '-blockdev', `node-name=system-file,driver=file,filename=${disk}`,
    '-blockdev', 'node-name=system,driver=qcow2,file=system-file',
    '-device', 'virtio-scsi-pci,id=scsi0', '-device', 'scsi-hd,drive=system,bus=scsi0.0,bootindex=1',
    '-chardev', `socket,id=chrtpm,path=${tpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-crb,tpmdev=tpm0',
    '-chardev', `socket,id=qmp,path=${qmpSocket},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control',
    '-serial', 'null',
  ];
  qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr?.on('data', (d) => (stderr += String(d)));
  await until('the QMP socket', async () => {
    if (qemu!.exitCode !== null) throw new Error(`qemu exited: ${stderr}`);
    return readdir(dir).then((names) => names.includes('qmp.sock'));
  }, 30_000);
  return { qmpSocket };
}

describe('swtpm for BOOT_MODE=secure', () => {
  it('runs in the foreground with its state in STORAGE/tpm, QEMU sees it and initializes it, close() stops it', async () => {
    tpm = await startTpm(context());
    expect(processAlive(tpm.pid)).toBe(true);
    expect(tpm.socket).toBe(join(dir, 'run', 'swtpm.sock'));
    expect(tpm.stateDir).toBe(join(dir, 'storage', 'tpm'));

    const { qmpSocket } = await startSecureQemu(tpm.socket);
    const tpms = (await qmp(qmpSocket, 'query-tpm')) as { id: string; model: string; options: { type: string; data: { chardev?: string } } }[];
    expect(tpms).toEqual([{ id: 'tpm0', model: 'tpm-crb', options: { type: 'emulator', data: { chardev: 'chrtpm' } } }]);
    // QEMU initializes the TPM over the socket (and OVMF starts it): swtpm writes its permanent state.
    await until('swtpm state written', async () => (await readdir(tpm!.stateDir)).some((n) => n.startsWith('tpm2-00.permall')), 120_000);

    const pid = tpm.pid;
    await tpm.close();
    await tpm.close(); // idempotent
    expect(processAlive(pid)).toBe(false);
    expect((await readdir(join(dir, 'run'))).includes('swtpm.sock')).toBe(false);
    // The guest's TPM state stays for the next run.
    expect((await readdir(tpm.stateDir)).some((n) => n.startsWith('tpm2-00.permall'))).toBe(true);
  });

  it('serves QEMU with a comma in both STORAGE and RUN_DIR (swtpm has no escape for one)', async () => {
    const { mkdir } = await import('node:fs/promises');
    const storage = join(dir, 'stor,age');
    const runDir = join(dir, 'run,dir');
    await mkdir(storage);
    tpm = await startTpm({ ...context(), config: { storage, runDir } as never });
    expect(tpm.socket).toBe(join(runDir, 'swtpm.sock'));
    const { qmpSocket } = await startSecureQemu(tpm.socket.replaceAll(',', ',,'));
    expect(await qmp(qmpSocket, 'query-tpm'), 'QEMU reaches the TPM').toHaveLength(1);
    await until('swtpm state written under the comma path', async () => (await readdir(join(storage, 'tpm'))).some((n) => n.startsWith('tpm2-00.permall')), 120_000);
  });

  it('ends by itself when QEMU goes away (--terminate), and says so through `died`', async () => {
    tpm = await startTpm(context());
    const { qmpSocket } = await startSecureQemu(tpm.socket);
    // Once QMP answers query-tpm, QEMU's TPM backend holds its connection to swtpm.
    expect(await qmp(qmpSocket, 'query-tpm')).toHaveLength(1);
    qemu!.kill('SIGKILL');
    const reason = await Promise.race([tpm.died, sleep(30_000).then(() => undefined)]);
    expect(reason).toBeInstanceOf(Error);
    expect(String(reason)).toContain('swtpm');
    expect(processAlive(tpm.pid)).toBe(false);
  });

  it('replaces a stale socket path left by a crashed run', async () => {
    const { mkdir, writeFile, stat } = await import('node:fs/promises');
    await mkdir(join(dir, 'run'), { recursive: true });
    await writeFile(join(dir, 'run', 'swtpm.sock'), 'left over');
    tpm = await startTpm(context());
    expect((await stat(tpm.socket)).isSocket()).toBe(true);
  });

  it('reports a missing swtpm as a host problem (exit 3) naming the Debian package', async () => {
    const error = await startTpm(context(), { program: join(dir, 'no-such-swtpm'), startTimeoutMs: 5000, stopTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'host', exitCode: 3 });
    expect((error as { hint?: string }).hint).toContain('swtpm');
  });
});
