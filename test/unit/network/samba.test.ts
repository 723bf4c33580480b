import { describe, expect, it } from 'vitest';
import { buildSmbConf, chooseShare } from '../../../src/network/samba.js';

describe('chooseShare', () => {
  const only = (...dirs: string[]) => (path: string) => dirs.includes(path);
  it('takes /shared, else /data, as dockur does', () => {
    const settings = { samba: true, sambaReadonly: false, shareDir: undefined };
    expect(chooseShare(settings, only('/shared', '/data'))).toEqual({ dir: '/shared', readOnly: false });
    expect(chooseShare(settings, only('/data'))).toEqual({ dir: '/data', readOnly: false });
    expect(chooseShare(settings, only())).toBeUndefined();
  });
  it('takes SHARE_DIR alone when set, and nothing with SAMBA=N', () => {
    expect(chooseShare({ samba: true, sambaReadonly: true, shareDir: '/x' }, only('/x', '/shared'))).toEqual({ dir: '/x', readOnly: true });
    expect(chooseShare({ samba: true, sambaReadonly: false, shareDir: '/x' }, only('/shared'))).toBeUndefined();
    expect(chooseShare({ samba: false, sambaReadonly: false, shareDir: undefined }, only('/shared'))).toBeUndefined();
  });
});

describe('buildSmbConf', () => {
  const conf = (readOnly: boolean, dir = '/shared') => buildSmbConf({ share: { dir, readOnly }, bridge: 'windock0', stateDir: '/run/windock/samba' });
  it('binds to the bridge only and keeps every state directory in RUN_DIR', () => {
    const text = conf(false);
    expect(text).toMatch(/^ {4}interfaces = windock0$/m);
    expect(text).toMatch(/^ {4}bind interfaces only = yes$/m);
    for (const key of ['private dir', 'lock directory', 'state directory', 'cache directory', 'ncalrpc dir', 'pid directory']) {
      expect(text).toMatch(new RegExp(`^ {4}${key} = /run/windock/samba\\b`, 'm'));
    }
    expect(text).toMatch(/\[Data\]\n {4}path = \/shared\n/);
    expect(text).toMatch(/^ {4}read only = no$/m);
  });
  it('SAMBA_READONLY=Y makes the share read-only', () => {
    expect(conf(true)).toMatch(/^ {4}read only = yes$/m);
  });
  it('refuses a path that would start a new smb.conf line', () => {
    expect(() => conf(false, '/shared\n[evil]')).toThrow(/SHARE_DIR must be a path on one line/);
  });
});
