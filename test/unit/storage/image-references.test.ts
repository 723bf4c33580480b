import { describe, expect, it } from 'vitest';
import { embeddedDescriptor, looksLikeText, parseVmdkDescriptor, referenceProblems } from '../../../src/storage/image-references.js';

describe('parseVmdkDescriptor', () => {
  it('reads extents and the parent hint, and skips everything else', () => {
    const text = [
      '# Disk DescriptorFile',
      'version=1',
      'parentFileNameHint="/base/parent.vmdk"',
      'RW 2048 FLAT "disk-flat.vmdk" 0',
      '  RDONLY 100 SPARSE "/etc/shadow"',
      'RW 100 ZERO',
      'RW\t+16 FLAT "/etc/hostname" 0',
      'ddb.adapterType = "ide"',
    ].join('\r\n');
    expect(parseVmdkDescriptor(text)).toEqual({ extents: ['disk-flat.vmdk', '/etc/shadow', '/etc/hostname'], parent: '/base/parent.vmdk' });
  });
});

describe('embeddedDescriptor', () => {
  it('finds the descriptor of a sparse VMDK and says whether its extents count', () => {
    const head = Buffer.alloc(64);
    head.write('KDMV', 0, 'latin1');
    head.writeBigUInt64LE(0n, 12); // capacity 0: QEMU opens the embedded descriptor's extents
    head.writeBigUInt64LE(1n, 28);
    head.writeBigUInt64LE(20n, 36);
    expect(embeddedDescriptor(head, 2 ** 20)).toEqual({ offset: 512, length: 10240, extentsCount: true });
    head.writeBigUInt64LE(2048n, 12);
    expect(embeddedDescriptor(head, 4096)).toEqual({ offset: 512, length: 4096, extentsCount: false });
    expect(embeddedDescriptor(Buffer.from('QFI\xfb'.padEnd(64, '\0'), 'latin1'), 4096)).toBeUndefined();
  });
  it('tells text from binary', () => {
    expect(looksLikeText(Buffer.from('version=1\n'))).toBe(true);
    expect(looksLikeText(Buffer.from([0x51, 0x46, 0x49, 0xfb, 0]))).toBe(false);
  });
});

describe('referenceProblems', () => {
  const image = '/images/disk.vmdk';
  it('accepts a self-contained image and sibling extents outside STORAGE', () => {
    expect(referenceProblems(image, '/storage', { extents: [{ name: 'disk.vmdk', kind: 'file' }, { name: 'disk-flat.vmdk', kind: 'file' }, { name: '/images/disk-s002.vmdk', kind: 'file' }] })).toEqual([]);
  });
  it('names every reference that leaves the image', () => {
    expect(
      referenceProblems(image, '/storage', {
        backingFile: '/etc/hostname',
        dataFile: 'json:{"driver":"nbd"}',
        extents: [
          { name: '../etc/passwd', kind: 'file' },
          { name: '/etc/shadow', kind: 'file' },
          { name: 'nbd://host:10809', kind: 'missing' },
          { name: 'link-flat.vmdk', kind: 'symlink' },
          { name: 'dev-flat.vmdk', kind: 'other' },
        ],
      }),
    ).toEqual([
      'its backing file is "/etc/hostname"',
      'its external data file is "json:{\\"driver\\":\\"nbd\\"}"',
      `its extent "../etc/passwd" lies outside the image's folder /images`,
      `its extent "/etc/shadow" lies outside the image's folder /images`,
      'its extent "nbd://host:10809" is a QEMU protocol or json: name, not a file',
      'its extent "link-flat.vmdk" is a symbolic link',
      'its extent "dev-flat.vmdk" is not a regular file',
    ]);
  });
  it('in STORAGE (a download), allows only the image itself', () => {
    expect(referenceProblems('/storage/x.vmdk', '/storage', { extents: [{ name: 'x.vmdk', kind: 'file' }, { name: 'windock.json', kind: 'file' }] })).toEqual([
      'its extent "windock.json" is another file in STORAGE (an image there may only be its own extent)',
    ]);
    expect(referenceProblems('/storage/sub/x.vmdk', '/storage/', { extents: [{ name: 'y', kind: 'file' }] })).toHaveLength(1);
    expect(referenceProblems('/storage2/x.vmdk', '/storage', { extents: [{ name: 'y', kind: 'file' }] })).toEqual([]);
  });
});
