/**
 * The NIC model is recorded in windock.json at the first run, like the disk bus, and kept: an
 * image that later bundles (or drops) the virtio drivers does not swap the adapter under an
 * installed Windows. Real StateFile in a temporary STORAGE.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { recordedNic } from '../../src/windows/windows-profile.js';
import { windowsProfile } from '../../src/windows/windows-stage.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-nic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const log = createLogger({ level: 'info', pretty: false, destination: new Writable({ write: (_c, _e, done) => done() }) });

it('records the first NIC model and keeps it when the drivers appear later', async () => {
  const state = new StateFile(dir);
  const withoutDrivers = windowsProfile({ boot: undefined, version: '11' }, false)!;
  const withDrivers = windowsProfile({ boot: undefined, version: '11' }, true)!;
  expect([withoutDrivers.nic, withDrivers.nic]).toEqual(['e1000e', 'virtio-net-pci']);
  expect(await recordedNic(state, withoutDrivers.nic, log)).toBe('e1000e');
  expect(JSON.parse(await readFile(join(dir, 'windock.json'), 'utf8'))).toMatchObject({ nicModel: 'e1000e' });
  expect(await recordedNic(new StateFile(dir), withDrivers.nic, log)).toBe('e1000e');
});

it('a windock.json whose nicModel is unknown is salvaged without it, and the profile\'s model recorded', async () => {
  await writeFile(join(dir, 'windock.json'), JSON.stringify({ schema: 1, mac: '02:11:22:33:44:55', nicModel: 'ne2000' }));
  const state = new StateFile(dir);
  const xp = windowsProfile({ boot: undefined, version: 'xp' }, false)!;
  expect(await recordedNic(state, xp.nic, log)).toBe('rtl8139');
  expect(JSON.parse(await readFile(join(dir, 'windock.json'), 'utf8'))).toMatchObject({ mac: '02:11:22:33:44:55', nicModel: 'rtl8139' });
});
