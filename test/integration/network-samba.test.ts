/**
 * The shared folder with NETWORK=tap in real namespaces: windock's startNetwork runs in the
 * "container" namespace (network-driver.ts) with SHARE_DIR pointing at a temporary directory, and
 * a real SMB client (smbclient, Debian smbclient) runs in a stand-in guest on windock's bridge.
 * A file put through \\host.lan\Data lands in the directory; with SAMBA_READONLY=Y the put is
 * refused; the container's uplink address answers nothing on 445.
 */
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileSources, createNetns, destroyAllNetns, type Netns } from '../fixtures/netns.js';
import { startStandInGuest } from '../fixtures/stand-in-guest.js';
import { startDriver, type Driver } from './network-driver.js';

let build: string;
const drivers: Driver[] = [];
const extraNs: string[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  build = await compileSources();
});
afterEach(async () => {
  for (const d of drivers.splice(0)) d.child.kill('SIGKILL');
  for (const name of extraNs.splice(0)) {
    const { stdout } = await execa('ip', ['netns', 'pids', name], { reject: false });
    const pids = String(stdout).split(/\s+/).filter(Boolean);
    if (pids.length) await execa('kill', ['-KILL', ...pids], { reject: false });
    await execa('ip', ['netns', 'del', name], { reject: false });
  }
  await destroyAllNetns();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await rm(build, { recursive: true, force: true });
});

async function startWithShare(ns: Netns, env: Record<string, string>) {
  const storage = await mkdtemp(join(tmpdir(), 'windock-smb-'));
  const share = await mkdtemp(join(tmpdir(), 'windock-share-'));
  dirs.push(storage, share);
  const driver = await startDriver(ns, build, {
    KVM: 'N',
    RAM_SIZE: '256M',
    NETWORK: 'tap',
    STORAGE: storage,
    RUN_DIR: join(storage, 'run'),
    SHARE_DIR: share,
    ...env,
  });
  drivers.push(driver);
  const guest = await startStandInGuest(ns, driver.ready.plan!.mac, driver.ready.plan!.bridge, 'smb');
  extraNs.push(guest.name);
  const upload = join(storage, 'upload.txt');
  await writeFile(upload, 'written by the guest\n');
  return { driver, guest, share, upload };
}

/** smbclient in the stand-in guest, as guest (no password), against the bridge address. */
function smbclient(guestNs: string, command: string) {
  return execa('ip', ['netns', 'exec', guestNs, 'smbclient', '-N', '//172.30.0.1/Data', '-c', command], { reject: false, all: true, timeout: 30_000 });
}

/** What a TCP connect to host:445 gives: 'connected', or the error code (refused, timeout). */
function connect445(host: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port: 445 });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, 3_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code ?? error.message);
    });
  });
}

describe('shared folder (Samba) with NETWORK=tap', () => {
  it('a file written through \\\\host.lan\\Data lands in the directory; host.lan resolves; the uplink has no 445', async () => {
    const ns = await createNetns();
    const { driver, guest, share, upload } = await startWithShare(ns, {});
    const put = await smbclient(guest.name, `put ${upload} from-guest.txt; ls`);
    expect(put.exitCode, `smbclient:\n${put.all}\n${driver.stderr().slice(-3000)}`).toBe(0);
    expect(await readFile(join(share, 'from-guest.txt'), 'utf8')).toBe('written by the guest\n');

    const lookup = await execa('ip', ['netns', 'exec', guest.name, 'busybox', 'nslookup', 'host.lan', '172.30.0.1'], { reject: false, all: true });
    expect(lookup.all).toMatch(/Address:?\s+172\.30\.0\.1(?!\S)[\s\S]*$/);

    // From the "Docker host" side to the container's uplink address: nothing answers on 445.
    expect(await connect445(ns.address)).not.toBe('connected');
    // And inside the container smbd listens on the bridge address alone.
    const listening = String((await ns.exec('ss', ['-Hltn', 'sport = :445'])).stdout).trim().split('\n').map((line) => line.split(/\s+/)[3]);
    expect(listening).toEqual(['172.30.0.1:445']);

    await driver.close();
    const after = await smbclient(guest.name, 'ls');
    expect(after.exitCode, `smbclient after close:\n${after.all}`).not.toBe(0);
  });

  it('SAMBA_READONLY=Y: the guest reads the folder and a write is refused', async () => {
    const ns = await createNetns();
    const { driver, guest, share, upload } = await startWithShare(ns, { SAMBA_READONLY: 'Y' });
    await writeFile(join(share, 'from-host.txt'), 'from the host\n');
    const list = await smbclient(guest.name, 'ls');
    expect(list.exitCode, `smbclient ls:\n${list.all}\n${driver.stderr().slice(-3000)}`).toBe(0);
    expect(list.all).toContain('from-host.txt');
    const put = await smbclient(guest.name, `put ${upload} from-guest.txt`);
    expect(put.all).toMatch(/NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);
    await expect(readFile(join(share, 'from-guest.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
