import { describe, expect, it } from 'vitest';
import { judgeStateText } from '../../../src/state/state-salvage.js';

const TOKEN = 'Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV4cXV1eHF1dXo';
const GOOD = {
  schema: 1,
  webToken: TOKEN,
  media: { source: '/base/golden.qcow2', kind: 'disk', path: '/base/golden.qcow2', size: 1024, mtimeMs: 5 },
  install: { mediaAttached: false, bootedFromDisk: true, completedAt: '2026-01-01T00:00:00.000Z' },
  bootMode: 'uefi',
  diskBus: 'scsi',
  mac: '02:00:00:12:34:56',
  later: { something: 'a newer minor fact' },
};
const TEXT = `${JSON.stringify(GOOD, null, 2)}\n`;

describe('judgeStateText', () => {
  it('takes a sound file as it is, unknown facts included', () => {
    expect(judgeStateText(TEXT)).toEqual({ kind: 'ok', state: GOOD });
  });

  it('refuses a file of a later schema instead of rewriting it', () => {
    expect(judgeStateText(JSON.stringify({ ...GOOD, schema: 2 }))).toEqual({ kind: 'newer', schema: 2 });
  });

  it('saves the facts written before the cut of a truncated file', () => {
    const cut = TEXT.slice(0, TEXT.indexOf('"mac"') + 12);
    const verdict = judgeStateText(cut);
    expect(verdict.kind).toBe('corrupt');
    if (verdict.kind !== 'corrupt') return;
    expect(verdict.reason).toMatch(/^it is not JSON/);
    expect(verdict.state).toEqual({ schema: 1, webToken: TOKEN, media: GOOD.media, install: GOOD.install, bootMode: 'uefi', diskBus: 'scsi' });
    expect(verdict.recovered).toEqual(['webToken', 'bootMode', 'diskBus', 'install', 'media']);
    expect(verdict.dropped).toEqual(['mac']);
  });

  it('drops facts of the wrong type from a file that parses, and names them', () => {
    const verdict = judgeStateText(JSON.stringify({ ...GOOD, mac: 42, install: { mediaAttached: 'yes' }, webToken: 'short' }));
    expect(verdict).toMatchObject({ kind: 'corrupt', reason: 'mac, webToken, install failed their check', dropped: ['mac', 'webToken', 'install'] });
    if (verdict.kind !== 'corrupt') return;
    expect(verdict.state).toEqual({ schema: 1, media: GOOD.media, bootMode: 'uefi', diskBus: 'scsi', later: GOOD.later });
  });

  it('keeps nothing from garbage, an array or a missing schema but what passes', () => {
    expect(judgeStateText('\u0000\u0001garbage\u00ff')).toMatchObject({ kind: 'corrupt', state: { schema: 1 }, recovered: [], dropped: [] });
    expect(judgeStateText('[1,2]')).toMatchObject({ kind: 'corrupt', reason: 'it is not a JSON object', state: { schema: 1 } });
    expect(judgeStateText(JSON.stringify({ mac: GOOD.mac }))).toMatchObject({
      kind: 'corrupt',
      reason: 'its schema is undefined, expected 1',
      state: { schema: 1, mac: GOOD.mac },
      recovered: ['mac'],
    });
  });

  it('never takes a Windows ISO file name that leaves STORAGE', () => {
    const verdict = judgeStateText(JSON.stringify({ schema: 1, windows: { version: '11', language: 'en-US', fileName: '../../etc/shadow' } }));
    expect(verdict).toMatchObject({ kind: 'corrupt', dropped: ['windows'], state: { schema: 1 } });
  });

  it("keeps the firmware's word on the install (windowsBoot) only when it is whole", () => {
    const record = { firmware: 'ovmf', at: '2026-01-01T00:00:00.000Z', line: 'BdsDxe: starting Boot0004 "Windows Boot Manager" from HD(1,MBR,0x57444B31,0x800,0x1E800)/\\EFI\\BOOT\\BOOTX64.EFI' };
    expect(judgeStateText(JSON.stringify({ schema: 1, windowsBoot: record }))).toEqual({ kind: 'ok', state: { schema: 1, windowsBoot: record } });
    for (const bad of [{ ...record, firmware: 'coreboot' }, { ...record, at: 'yesterday' }, { firmware: 'ovmf', at: record.at }]) {
      expect(judgeStateText(JSON.stringify({ schema: 1, mac: GOOD.mac, windowsBoot: bad }))).toMatchObject({ kind: 'corrupt', dropped: ['windowsBoot'], state: { schema: 1, mac: GOOD.mac } });
    }
    // Salvaged from a file cut after it.
    const cut = `{"schema":1,"windowsBoot":${JSON.stringify(record)},"mac":"02:0`;
    expect(judgeStateText(cut)).toMatchObject({ kind: 'corrupt', state: { windowsBoot: record } });
  });
});
