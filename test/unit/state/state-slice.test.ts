/** A module's typed slice of windock.json: written whole, read back only when it passes the file's check. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateFile, stateSlice } from '../../../src/state/state-file.js';

interface Download {
  version: string;
  language: string;
  fileName: string;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-slice-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('stateSlice', () => {
  it('writes its key beside the other facts and reads it back', async () => {
    const slice = stateSlice<Download>('windows');
    const file = new StateFile(dir);
    await file.update((s) => void (s.mac = '52:54:00:12:34:56'));
    await slice.write(file, { version: '11', language: 'en-US', fileName: 'win11.iso' });
    const stored = JSON.parse(await readFile(join(dir, 'windock.json'), 'utf8')) as Record<string, unknown>;
    expect(stored).toMatchObject({ mac: '52:54:00:12:34:56', windows: { fileName: 'win11.iso' } });
    expect(await slice.read(new StateFile(dir))).toEqual({ version: '11', language: 'en-US', fileName: 'win11.iso' });
  });

  it('reads a value that fails the check as absent', async () => {
    await writeFile(join(dir, 'windock.json'), JSON.stringify({ schema: 1, windows: { version: 11 } }));
    const file = new StateFile(dir);
    expect(await stateSlice<Download>('windows').read(file)).toBeUndefined();
  });

  it('refuses a key windock.json has no check for', () => {
    expect(() => stateSlice('nonsense')).toThrow('windock.json has no check for the slice "nonsense"');
  });
});
