import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import {
  chooseMac,
  chooseSubnet,
  findUplink,
  netmaskOf,
  overlaps,
  parseCidr,
  planNetwork,
  type NetworkInventory,
} from '../../../src/network/network-plan.js';

const dockerLike: NetworkInventory = {
  links: [
    { name: 'lo', index: 1, kind: undefined, master: undefined, mtu: 65536 },
    { name: 'ens5', index: 7, kind: 'veth', master: undefined, mtu: 1500 },
  ],
  addresses: [
    { dev: 'lo', address: '127.0.0.1', prefixLength: 8 },
    { dev: 'ens5', address: '172.18.0.5', prefixLength: 16 },
  ],
  routes: [
    { dst: '0.0.0.0/0', dev: 'ens5', metric: 0 },
    { dst: '172.18.0.0/16', dev: 'ens5', metric: 0 },
  ],
};

describe('planNetwork', () => {
  it('takes the default-route interface as uplink, the first free 172.30.x.0/24, .1 bridge and .2 guest', () => {
    expect(planNetwork({ network: 'tap' }, { vhostNet: true }, dockerLike, '02:11:22:33:44:55')).toEqual({
      uplink: 'ens5',
      uplinkAddress: '172.18.0.5',
      bridge: 'windock0',
      tap: 'windock-tap0',
      subnet: { network: '172.30.0.0', prefixLength: 24 },
      bridgeAddress: '172.30.0.1',
      guestAddress: '172.30.0.2',
      mac: '02:11:22:33:44:55',
      model: 'virtio-net-pci',
      vhost: true,
    });
  });

  it('uses vhost only where /dev/vhost-net exists', () => {
    expect(planNetwork({ network: 'tap' }, { vhostNet: false }, dockerLike, '02:00:00:00:00:01').vhost).toBe(false);
  });

  it('picks the lowest-metric default route among several', () => {
    const inventory: NetworkInventory = {
      ...dockerLike,
      routes: [
        { dst: '0.0.0.0/0', dev: 'eth1', metric: 200 },
        { dst: '0.0.0.0/0', dev: 'eth0', metric: 100 },
      ],
    };
    expect(findUplink(inventory)).toBe('eth0');
  });

  it('falls back to the only addressed interface without a default route, and refuses when unsure', () => {
    expect(findUplink({ ...dockerLike, routes: [] })).toBe('ens5');
    const two = { ...dockerLike, routes: [], addresses: [...dockerLike.addresses, { dev: 'eth9', address: '10.0.0.2', prefixLength: 24 }] };
    expect(() => findUplink(two)).toThrow(AppError);
    expect(() => findUplink(two)).toThrow(/no default route and 2 addressed interfaces/);
  });
});

describe('chooseSubnet', () => {
  it('skips subnets that overlap routes or addresses', () => {
    const inventory = {
      routes: [{ dst: '172.30.0.0/24', dev: 'eth1', metric: 0 }],
      addresses: [{ dev: 'eth2', address: '172.30.1.9', prefixLength: 24 }],
    };
    expect(chooseSubnet(inventory)).toEqual({ network: '172.30.2.0', prefixLength: 24 });
  });

  it('skips the whole 172.30 family when the container sits in 172.30.0.0/16, deterministically', () => {
    const inventory = { routes: [{ dst: '172.30.0.0/16', dev: 'eth0', metric: 0 }], addresses: [] };
    expect(chooseSubnet(inventory)).toEqual({ network: '10.213.0.0', prefixLength: 24 });
    expect(chooseSubnet(inventory)).toEqual(chooseSubnet(inventory));
  });

  it("ignores our own leftover bridge's route", () => {
    const inventory = { routes: [{ dst: '172.30.0.0/24', dev: 'windock0', metric: 0 }], addresses: [] };
    expect(chooseSubnet(inventory, ['windock0'])).toEqual({ network: '172.30.0.0', prefixLength: 24 });
  });

  it('ignores the default route but not a broad route', () => {
    const inventory = { routes: [{ dst: '0.0.0.0/0', dev: 'eth0', metric: 0 }, { dst: '10.0.0.0/8', dev: 'eth0', metric: 0 }], addresses: [] };
    expect(chooseSubnet(inventory)).toEqual({ network: '172.30.0.0', prefixLength: 24 });
  });

  it('computes overlaps and netmasks', () => {
    expect(overlaps(parseCidr('172.30.5.0/24'), parseCidr('172.16.0.0/12'))).toBe(true);
    expect(overlaps(parseCidr('172.30.5.0/24'), parseCidr('172.30.6.0/24'))).toBe(false);
    expect(netmaskOf(24)).toBe('255.255.255.0');
    expect(netmaskOf(30)).toBe('255.255.255.252');
  });
});

describe('chooseMac', () => {
  const random = new Uint8Array([0xab, 0x01, 0xff, 0x10, 0x7e]);
  it('prefers the MAC setting, then the persisted one', () => {
    expect(chooseMac('02:aa:aa:aa:aa:aa', '02:bb:bb:bb:bb:bb', random)).toBe('02:aa:aa:aa:aa:aa');
    expect(chooseMac(undefined, '02:bb:bb:bb:bb:bb', random)).toBe('02:bb:bb:bb:bb:bb');
  });
  it('generates a locally administered unicast address', () => {
    const mac = chooseMac(undefined, undefined, random);
    expect(mac).toBe('02:ab:01:ff:10:7e');
    const first = parseInt(mac.slice(0, 2), 16);
    expect(first & 1).toBe(0); // unicast
    expect(first & 2).toBe(2); // locally administered
  });
});
