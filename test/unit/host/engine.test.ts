import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { chooseNetworkMode, judgeEngine } from '../../../src/host/engine.js';

const PODMAN_ROOTLESS = 'engine="podman-4.3.1"\nname="win"\nid="abc"\nimage="windock"\nimageid="def"\nrootless=1\n';
const IDENTITY = '         0          0 4294967295\n';

describe('judgeEngine', () => {
  it('reads rootless Podman from /run/.containerenv', () => {
    const facts = judgeEngine({ containerEnv: PODMAN_ROOTLESS, dockerEnv: false, uidMap: '         0       1000          1\n         1     100000      65536\n' });
    expect(facts).toMatchObject({ engine: 'podman', rootless: true });
    expect(facts.evidence).toContain('/proc/self/uid_map maps uid 0 to host uid 1000');
  });
  it('rootful Podman and Docker with an identity uid map are not rootless', () => {
    expect(judgeEngine({ containerEnv: 'engine="podman-4.3.1"\nrootless=0\n', dockerEnv: false, uidMap: IDENTITY })).toMatchObject({ engine: 'podman', rootless: false });
    expect(judgeEngine({ containerEnv: undefined, dockerEnv: true, uidMap: IDENTITY })).toMatchObject({ engine: 'docker', rootless: false });
  });
  it('a remapped uid 0 is rootless whatever the engine (Docker userns-remap, rootless Docker)', () => {
    expect(judgeEngine({ containerEnv: undefined, dockerEnv: true, uidMap: '0 231072 65536\n' })).toMatchObject({ engine: 'docker', rootless: true });
  });
  it('CRI-O writes /run/.containerenv with another engine: not Podman', () => {
    expect(judgeEngine({ containerEnv: 'engine="cri-o"\n', dockerEnv: false, uidMap: IDENTITY }).engine).toBeUndefined();
  });
});

describe('chooseNetworkMode', () => {
  const rootless = judgeEngine({ containerEnv: PODMAN_ROOTLESS, dockerEnv: false, uidMap: undefined });
  const rootful = judgeEngine({ containerEnv: undefined, dockerEnv: true, uidMap: IDENTITY });
  const noTun = [new AppError('host', 'NETWORK=tap needs /dev/net/tun, which is missing and could not be created')];
  it('rootless with a failing tap check gets user mode, and says why', () => {
    const choice = chooseNetworkMode('tap', rootless, noTun);
    expect(choice.mode).toBe('user');
    expect(choice.reason).toMatch(/^rootless Podman \(\/run\/.containerenv engine=podman-4.3.1; .*\) cannot build NETWORK=tap here: NETWORK=tap needs \/dev\/net\/tun/);
  });
  it("rootless with every tap check passing still gets user mode: its published ports arrive on the container's loopback", () => {
    const choice = chooseNetworkMode('tap', rootless, []);
    expect(choice.mode).toBe('user');
    expect(choice.reason).toContain("delivers published ports from the container's own loopback");
  });
  it('keeps LAN mode (DHCP=Y) that can be built: no published port is involved', () => {
    expect(chooseNetworkMode('tap', rootless, [], true)).toEqual({ mode: 'tap' });
    expect(chooseNetworkMode('tap', rootless, noTun, true).mode).toBe('user');
  });
  it('never changes a rootful engine or another mode', () => {
    expect(chooseNetworkMode('tap', rootful, noTun)).toEqual({ mode: 'tap' });
    expect(chooseNetworkMode('none', rootless, noTun)).toEqual({ mode: 'none' });
  });
});
