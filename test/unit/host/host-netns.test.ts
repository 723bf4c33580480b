import { describe, expect, it } from 'vitest';
import { checkNetworkNamespace, hostNetnsEvidence, INIT_NET_NS_INODE, INIT_PID_NS_INODE } from '../../../src/host/check.js';
import type { NetnsFacts } from '../../../src/host/facts.js';

/** A Docker container on its bridge network: own PID and network namespace, one veth. */
const CONTAINER: NetnsFacts = {
  netInode: 4026532301,
  pidInode: 4026532300,
  pid1NetInode: 4026532301,
  links: [
    { name: 'lo', kind: undefined, parentBus: undefined },
    { name: 'eth0', kind: 'veth', parentBus: undefined },
  ],
};

describe('hostNetnsEvidence', () => {
  it('finds nothing in a container on its own network (bridge, macvlan, ipvlan)', () => {
    expect(hostNetnsEvidence(CONTAINER)).toEqual([]);
    expect(hostNetnsEvidence({ ...CONTAINER, links: [{ name: 'eth0', kind: 'macvlan', parentBus: undefined }, { name: 'eth1', kind: 'ipvlan', parentBus: undefined }] })).toEqual([]);
  });

  it("sees the kernel's initial network namespace by its fixed inode", () => {
    expect(hostNetnsEvidence({ ...CONTAINER, netInode: INIT_NET_NS_INODE })).toEqual([`it is the kernel's initial network namespace (net:[${INIT_NET_NS_INODE}])`]);
  });

  it("sees the host init's namespace only from the host's own PID namespace", () => {
    const hostPid = { ...CONTAINER, pidInode: INIT_PID_NS_INODE };
    expect(hostNetnsEvidence(hostPid)).toEqual(["it is the network namespace of the host's init (PID 1)"]);
    // Inside a container's PID namespace PID 1 is tini: sharing its namespace says nothing.
    expect(hostNetnsEvidence(CONTAINER)).toEqual([]);
    // PID 1 not inspectable (EACCES): no verdict from it.
    expect(hostNetnsEvidence({ ...hostPid, pid1NetInode: undefined })).toEqual([]);
  });

  it('sees docker --network host and hostNetwork: true by their interfaces', () => {
    const host: NetnsFacts = {
      ...CONTAINER,
      links: [
        { name: 'lo', kind: undefined, parentBus: undefined },
        { name: 'enp3s0', kind: undefined, parentBus: 'pci' },
        { name: 'docker0', kind: 'bridge', parentBus: undefined },
        { name: 'flannel.1', kind: 'vxlan', parentBus: undefined },
        { name: 'veth12ab', kind: 'veth', parentBus: undefined },
      ],
    };
    expect(hostNetnsEvidence(host)).toEqual([
      'enp3s0 is a hardware network device (pci bus)',
      "docker0 is a container engine's or cluster network's own interface",
      "flannel.1 is a container engine's or cluster network's own interface",
    ]);
  });

  it('says nothing when nothing could be read', () => {
    expect(hostNetnsEvidence({ netInode: undefined, pidInode: undefined, pid1NetInode: undefined, links: undefined })).toEqual([]);
  });
});

describe('checkNetworkNamespace', () => {
  const host: NetnsFacts = { ...CONTAINER, netInode: INIT_NET_NS_INODE };
  it('refuses NETWORK=tap there with exit 3 and the fix', () => {
    const error = checkNetworkNamespace({ network: 'tap', hostNetwork: false }, host);
    expect(error?.exitCode).toBe(3);
    expect(error?.message).toMatch(/^NETWORK=tap would forward every port of this network namespace to the guest, and it looks like the host's own: /);
    expect(error?.hint).toMatch(/--network host.*hostNetwork: true.*NETWORK=user.*HOST_NETWORK=Y/);
  });
  it('lets HOST_NETWORK=Y, NETWORK=user and NETWORK=none through', () => {
    expect(checkNetworkNamespace({ network: 'tap', hostNetwork: true }, host)).toBeUndefined();
    expect(checkNetworkNamespace({ network: 'user', hostNetwork: false }, host)).toBeUndefined();
    expect(checkNetworkNamespace({ network: 'none', hostNetwork: false }, host)).toBeUndefined();
  });
});
