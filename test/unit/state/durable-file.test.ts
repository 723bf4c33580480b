import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileOnce, writeFileAtomic } from '../../../src/state/durable-file.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'windock-durable-'));
  dirs.push(d);
  return d;
}

describe('copyFileOnce', () => {
  it('creates the copy with the mode asked for and leaves no temporary file', async () => {
    const d = await dir();
    await writeFile(join(d, 'template'), 'firmware');
    expect(await copyFileOnce(join(d, 'template'), join(d, 'vars.fd'), 0o644)).toBe(true);
    expect(await readFile(join(d, 'vars.fd'), 'utf8')).toBe('firmware');
    expect((await stat(join(d, 'vars.fd'))).mode & 0o777).toBe(0o644);
    expect((await readdir(d)).sort()).toEqual(['template', 'vars.fd']);
  });

  it('never replaces an existing file (the guest\'s variables), and says so', async () => {
    const d = await dir();
    await writeFile(join(d, 'template'), 'new');
    await writeFile(join(d, 'vars.fd'), 'the guest boot entries');
    expect(await copyFileOnce(join(d, 'template'), join(d, 'vars.fd'))).toBe(false);
    expect(await readFile(join(d, 'vars.fd'), 'utf8')).toBe('the guest boot entries');
    expect((await readdir(d)).sort()).toEqual(['template', 'vars.fd']);
  });

  it('a missing source fails without creating the target', async () => {
    const d = await dir();
    await expect(copyFileOnce(join(d, 'nothing'), join(d, 'vars.fd'))).rejects.toThrow(/ENOENT/);
    expect(await readdir(d)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole and leaves no temporary file', async () => {
    const d = await dir();
    await writeFile(join(d, 'state.json'), 'old');
    await writeFileAtomic(join(d, 'state.json'), 'new');
    expect(await readFile(join(d, 'state.json'), 'utf8')).toBe('new');
    expect(await readdir(d)).toEqual(['state.json']);
  });
});
