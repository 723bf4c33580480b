/**
 * Settings mistakes and a damaged STORAGE, through the real `windock` binary: each mistake exits
 * 2 before anything is touched (STORAGE byte-identical, RUN_DIR never created), secrets never
 * show, and a damaged windock.json is set aside with its readable facts kept.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256File } from '../fixtures/digest.js';
import { freePort, killRuns, startWindock, tail, tempDir, vmEnv, type WindockRun } from '../fixtures/windock.js';
import { makeTempDirs } from './storage-helpers.js';

const runs: WindockRun[] = [];
const dirs: string[] = [];
const temp = makeTempDirs();
afterEach(async () => {
  await killRuns(runs, dirs);
  temp.cleanup();
});

/** Every file in STORAGE with its digest: "touched" means any of them changed, appeared or went. */
async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = sha256File(join(dir, name));
  return out;
}

async function storageWithDisk(): Promise<{ dir: string; storage: string }> {
  const dir = await tempDir('early');
  dirs.push(dir);
  const storage = join(dir, 'storage');
  execFileSync('mkdir', ['-p', storage]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(storage, 'data.qcow2'), '64M']);
  return { dir, storage };
}

async function runToExit(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; run: WindockRun }> {
  const run = startWindock({ env, args });
  runs.push(run);
  const { code } = await run.exited;
  return { code, run };
}

describe('settings mistakes exit 2 before anything is touched', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['USER_PORTS holding WEB_PORT', { NETWORK: 'user', USER_PORTS: '8000-8010' }, /USER_PORTS must not include WEB_PORT 8006: that port is windock's own, got 8000-8010/],
    ['a short WEB_TOKEN', { WEB_TOKEN: 'tiny-secret' }, /WEB_TOKEN must be at least 16 characters from A-Z a-z 0-9 \. _ ~ -, got 11 characters/],
    ['a WEB_TOKEN with a space', { WEB_TOKEN: 'a secret token value' }, /WEB_TOKEN must be .*, got whitespace at character 2/],
    ['a json: BOOT', { BOOT: 'json:{"driver":"file","filename":"/etc/hostname"}' }, /BOOT must be the path or URL of an image file, got a QEMU "json:" block description/],
  ];
  it.each(cases)('%s', async (_what, extra, message) => {
    const { dir, storage } = await storageWithDisk();
    const before = await digests(storage);
    // WEB_PORT 8006 is never bound: every case exits before the web server starts.
    const { code, run } = await runToExit(vmEnv(storage, join(dir, 'run'), 8006, extra));
    expect(code, run.stderr()).toBe(2);
    expect(run.stderr()).toMatch(message);
    for (const secret of Object.entries(extra).filter(([k]) => k === 'WEB_TOKEN').map(([, v]) => v)) expect(run.stderr()).not.toContain(secret);
    expect(await digests(storage)).toEqual(before);
    await expect(stat(join(dir, 'run'))).rejects.toThrow(/ENOENT/);
  });
});

describe('windock config', () => {
  it('shows BOOT and VERSION without user info or query, and no token', async () => {
    const token = 'config-shows-no-token-0123';
    const { code, run } = await runToExit(
      { BOOT: 'https://alice:s3cret@dl.test/w.iso?X-Amz-Signature=deadbeef', VERSION: 'https://dl.test/v.iso?token=cafe', WEB_TOKEN: token },
      ['config'],
    );
    expect(code, run.stderr()).toBe(0);
    const out = run.lines.map((l) => l.msg).join('\n');
    expect(out).toContain('"boot": "https://[redacted]@dl.test/w.iso?[redacted]"');
    expect(out).toContain('"version": "https://dl.test/v.iso?[redacted]"');
    for (const secret of ['alice', 's3cret', 'deadbeef', 'cafe', token]) expect(out).not.toContain(secret);
  });

  it('the start-up log line shows the same redacted URL', async () => {
    const dir = await tempDir('startlog');
    dirs.push(dir);
    // No disk: the run goes for the download, which port 1 refuses at once (exit 4).
    const run = startWindock({ env: vmEnv(join(dir, 'storage'), join(dir, 'run'), await freePort(), { BOOT: 'https://bob:pw@127.0.0.1:1/x.iso?sig=abc' }) });
    runs.push(run);
    const line = await run.waitForLine((l) => l.msg === 'windock starting', 20_000);
    expect((line['config'] as Record<string, unknown>)['boot']).toBe('https://[redacted]@127.0.0.1:1/x.iso?[redacted]');
    expect(JSON.stringify(line)).not.toMatch(/bob|pw@|sig=abc/);
  });
});

describe('STORAGE that cannot be written', () => {
  it('a read-only STORAGE exits 2 naming it, before the web server, RUN_DIR or the disk are touched', async () => {
    const storage = temp.makeTmpfs('8m');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(storage, 'data.qcow2'), '64M']);
    execFileSync('mount', ['-o', 'remount,ro', storage]);
    const before = await digests(storage);
    const dir = await tempDir('ro');
    dirs.push(dir);
    const { code, run } = await runToExit(vmEnv(storage, join(dir, 'run'), await freePort()));
    expect(code, tail(run.lines)).toBe(2);
    const error = run.lines.find((l) => l.level === 50);
    expect(error?.msg, tail(run.lines)).toBe(`STORAGE ${storage} is read-only (EROFS)`);
    expect(String(error?.['hint'])).toMatch(/mount it read-write/);
    expect(run.lines.some((l) => l.msg === 'web server listening'), tail(run.lines)).toBe(false);
    expect(await digests(storage)).toEqual(before);
    await expect(stat(join(dir, 'run'))).rejects.toThrow(/ENOENT/);
  });

  it('a missing STORAGE is created', async () => {
    const dir = await tempDir('missing');
    dirs.push(dir);
    const storage = join(dir, 'a', 'b', 'storage');
    // No disk and a BOOT that does not exist: the run creates STORAGE, then stops at the media (exit 4).
    const { code, run } = await runToExit(vmEnv(storage, join(dir, 'run'), await freePort(), { BOOT: join(dir, 'absent.qcow2') }));
    expect(code, tail(run.lines)).toBe(4);
    expect((await stat(storage)).isDirectory()).toBe(true);
  });
});

describe('a damaged windock.json', () => {
  const token = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV4cXV1eHF1dXo';
  const sound = `${JSON.stringify({ schema: 1, webToken: token, bootMode: 'legacy', mac: '02:00:00:aa:bb:cc', install: { mediaAttached: false, bootedFromDisk: true } }, null, 2)}\n`;

  it.each([
    ['truncated', sound.slice(0, sound.indexOf('"install"') + 20), ['webToken', 'bootMode', 'mac']],
    ['garbage', '\u0000\u0007 not json at all \u00ff', []],
    ['of the wrong types', JSON.stringify({ schema: 1, webToken: token, mac: 7, install: 'yes' }), ['webToken']],
  ])('%s: is kept beside, its readable facts (MAC, viewer token) survive, and windock goes on', async (_what, text, kept) => {
    const dir = await tempDir('state');
    dirs.push(dir);
    const storage = join(dir, 'storage');
    execFileSync('mkdir', ['-p', storage]);
    await writeFile(join(storage, 'windock.json'), text);
    // WEB_AUTH=Y reads the token from the state; a BOOT that does not exist ends the run at the media (exit 4).
    const { code, run } = await runToExit(vmEnv(storage, join(dir, 'run'), await freePort(), { WEB_AUTH: 'Y', BOOT: join(dir, 'absent.qcow2') }));
    expect(code, tail(run.lines)).toBe(4);
    const warning = run.lines.find((l) => l.msg.startsWith('windock.json was damaged'));
    expect(warning, tail(run.lines)).toBeDefined();
    expect(warning?.['recovered']).toEqual(expect.arrayContaining(kept));
    const copies = (await readdir(storage)).filter((n) => n.startsWith('windock.json.corrupt-'));
    expect(copies).toHaveLength(1);
    expect(await readFile(join(storage, copies[0]!), 'utf8')).toBe(text);
    const now = JSON.parse(await readFile(join(storage, 'windock.json'), 'utf8')) as Record<string, unknown>;
    expect(now['schema']).toBe(1);
    if (kept.includes('mac')) expect(now['mac']).toBe('02:00:00:aa:bb:cc');
    const tokenLine = run.lines.find((l) => l.component === 'viewer');
    if (kept.includes('webToken')) {
      expect(now['webToken']).toBe(token);
      expect(tokenLine?.msg, tail(run.lines)).toMatch(/^viewer token loaded/);
    } else {
      expect(tokenLine?.msg, tail(run.lines)).toMatch(/^viewer token generated/);
    }
  });

  it('of a newer schema: exit 2 naming the file, which stays as it was', async () => {
    const dir = await tempDir('newer');
    dirs.push(dir);
    const storage = join(dir, 'storage');
    execFileSync('mkdir', ['-p', storage]);
    const text = JSON.stringify({ schema: 2, mac: '02:00:00:aa:bb:cc' });
    await writeFile(join(storage, 'windock.json'), text);
    const { code, run } = await runToExit(vmEnv(storage, join(dir, 'run'), await freePort(), { WEB_AUTH: 'Y', BOOT: join(dir, 'absent.qcow2') }));
    expect(code, tail(run.lines)).toBe(2);
    expect(run.lines.some((l) => l.msg === `${join(storage, 'windock.json')} has schema 2, written by a newer windock; this one reads schema 1`), tail(run.lines)).toBe(true);
    expect(await readFile(join(storage, 'windock.json'), 'utf8')).toBe(text);
    expect((await readdir(storage)).filter((n) => n.includes('corrupt'))).toEqual([]);
  });
});
