import { describe, expect, it } from 'vitest';
import { chooseSlirpNet } from '../../../src/network/slirp-net.js';

describe('chooseSlirpNet', () => {
  it("keeps QEMU's default 10.0.2.0/24 (no net= at all) on Docker's bridge and in a plain namespace", () => {
    expect(chooseSlirpNet([{ address: '127.0.0.1', prefixLength: 8 }, { address: '172.17.0.2', prefixLength: 16 }])).toEqual({ net: undefined, guest: '10.0.2.15', smb: '10.0.2.4' });
    expect(chooseSlirpNet([])).toEqual({ net: undefined, guest: '10.0.2.15', smb: '10.0.2.4' });
  });

  it("moves off 10.0.2.0/24 under rootless Podman's slirp4netns (10.0.2.100/24), saying why", () => {
    const chosen = chooseSlirpNet([{ address: '10.0.2.100', prefixLength: 24 }]);
    expect(chosen).toMatchObject({ net: '10.0.3.0/24', guest: '10.0.3.15', smb: '10.0.3.4' });
    expect(chosen.reason).toContain('10.0.2.100/24');
  });

  it('treats any overlap as a clash: a wider network around the default, or a narrower one inside it', () => {
    expect(chooseSlirpNet([{ address: '10.0.0.5', prefixLength: 22 }]).net).toBe('10.0.4.0/24');
    expect(chooseSlirpNet([{ address: '10.0.2.200', prefixLength: 30 }]).net).toBe('10.0.3.0/24');
    expect(chooseSlirpNet([{ address: '10.0.2.100', prefixLength: 24 }, { address: '10.0.3.9', prefixLength: 24 }]).net).toBe('10.0.4.0/24');
    // A host address (/32) counts as its own network.
    expect(chooseSlirpNet([{ address: '10.0.2.7', prefixLength: 32 }]).net).toBe('10.0.3.0/24');
  });

  it('leaves 10.0.0.0/8 entirely when the container sits on all of it', () => {
    expect(chooseSlirpNet([{ address: '10.1.2.3', prefixLength: 8 }])).toMatchObject({ net: '172.31.254.0/24', guest: '172.31.254.15' });
  });

  it("falls back to QEMU's default, without a reason, when every candidate is taken", () => {
    const everything = [{ address: '10.0.0.1', prefixLength: 8 }, { address: '172.16.0.1', prefixLength: 12 }, { address: '192.168.0.1', prefixLength: 16 }];
    expect(chooseSlirpNet(everything)).toEqual({ net: undefined, guest: '10.0.2.15', smb: '10.0.2.4' });
  });
});
