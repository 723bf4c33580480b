import { describe, expect, it } from 'vitest';
import { bootIsIso } from '../../../src/guest/profile.js';
import { applyMediaChoice, catalogKeyFor, chooseFromMedia, imageFor } from '../../../src/windows/iso-choice.js';
import { findIso9660File, parseDirectoryRecords, parseVolumeDescriptor, readFileRange, SECTOR } from '../../../src/windows/iso-reader.js';
import { parseFileIdentifiers, tagId } from '../../../src/windows/udf-reader.js';
import { windowsSettings } from '../../../src/windows/settings.js';
import { parseWimHeader, parseWimXml, type WimImage } from '../../../src/windows/wim-metadata.js';

const image = (index: number, editionId: string, installationType: string, build: number, extra: Partial<WimImage> = {}): WimImage => ({
  index, name: undefined, description: undefined, flags: editionId, editionId, installationType, languages: ['en-US'], defaultLanguage: 'en-US', arch: 'amd64', version: { major: 10, minor: 0, build }, ...extra,
});

const config = (env: { version?: string; edition?: string; language?: string; boot?: string } = {}) => ({ version: env.version ?? '11', edition: env.edition, language: env.language ?? 'English', boot: env.boot });

describe('WIM header and XML', () => {
  it('reads the XML resource header at 0x48 and refuses what is no WIM', () => {
    const header = Buffer.alloc(208);
    header.write('MSWIM\0\0\0', 0, 'latin1');
    header.writeUInt32LE(208, 8);
    header.writeUInt32LE(3, 0x2c);
    header.writeUIntLE(0x8a4, 0x48, 6);
    header[0x48 + 7] = 0x02;
    header.writeBigUInt64LE(0x6c9n, 0x50);
    expect(parseWimHeader(header)).toEqual({ imageCount: 3, xml: { offset: 0x6c9, size: 0x8a4, compressed: false } });
    expect(parseWimHeader(Buffer.alloc(208))).toMatch(/no WIM magic/);
    expect(parseWimHeader(header.subarray(0, 100))).toMatch(/shorter than a WIM header/);
  });

  it('parses images from UTF-16LE XML with a BOM, entities, several languages, in index order', () => {
    const xml = '\ufeff<WIM><IMAGE INDEX="2"><NAME>Windows 11 Pro &amp; more</NAME><WINDOWS><ARCH>9</ARCH><EDITIONID>Professional</EDITIONID><INSTALLATIONTYPE>Client</INSTALLATIONTYPE><LANGUAGES><LANGUAGE>de-DE</LANGUAGE><LANGUAGE>en-US</LANGUAGE><DEFAULT>de-DE</DEFAULT></LANGUAGES><VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22631</BUILD></VERSION></WINDOWS></IMAGE><IMAGE INDEX="1"><NAME>Home</NAME><WINDOWS><ARCH>0</ARCH></WINDOWS></IMAGE><IMAGE INDEX="x"></IMAGE></WIM>';
    const images = parseWimXml(Buffer.from(xml, 'utf16le'));
    expect(images.map((i) => i.index)).toEqual([1, 2]);
    expect(images[1]).toMatchObject({ name: 'Windows 11 Pro & more', editionId: 'Professional', languages: ['de-DE', 'en-US'], defaultLanguage: 'de-DE', arch: 'amd64', version: { build: 22631 } });
    expect(images[0]).toMatchObject({ arch: 'x86', version: undefined, editionId: undefined });
  });

  it('hostile XML that opens elements and never closes them gives no image (read in one pass, not quadratic)', () => {
    const open = Buffer.from('<WIM>' + '<IMAGE INDEX="1"><NAME>'.repeat(40_000), 'utf16le');
    expect(parseWimXml(open)).toEqual([]);
    const names = Buffer.from('<WIM><IMAGE INDEX="1">' + '<NAME>'.repeat(100_000) + '</IMAGE></WIM>', 'utf16le');
    expect(parseWimXml(names)).toMatchObject([{ index: 1, name: undefined }]);
  });
});

describe('ISO 9660 and UDF structures', () => {
  it('directory records: Joliet names, "." and ".." skipped, version suffixes dropped, padding to the next sector', () => {
    const bytes = Buffer.alloc(2 * SECTOR);
    const record = (at: number, name: Buffer, lba: number, flags: number) => {
      const length = 33 + name.length + (name.length % 2 === 0 ? 1 : 0);
      bytes[at] = length;
      bytes.writeUInt32LE(lba, at + 2);
      bytes.writeUInt32LE(4096, at + 10);
      bytes[at + 25] = flags;
      bytes[at + 32] = name.length;
      name.copy(bytes, at + 33);
      return at + length;
    };
    let at = record(0, Buffer.from([0]), 20, 2);
    at = record(at, Buffer.from([1]), 20, 2);
    record(at, Buffer.from('sources', 'utf16le').swap16(), 30, 2);
    record(SECTOR, Buffer.from('install.wim;1', 'utf16le').swap16(), 40, 0x80);
    expect(parseDirectoryRecords(bytes, true)).toEqual([
      { name: 'sources', directory: true, continues: false, lba: 30, length: 4096 },
      { name: 'install.wim', directory: false, continues: true, lba: 40, length: 4096 },
    ]);
  });

  it('a multi-extent file (ECMA-119 flag bit 7, files above 4 GiB) is read across its extents', async () => {
    const image = Buffer.alloc(24 * SECTOR);
    const descriptor = image.subarray(16 * SECTOR);
    descriptor[0] = 1;
    descriptor.write('CD001', 1, 'latin1');
    descriptor.writeUInt32LE(18, 156 + 2);
    descriptor.writeUInt32LE(SECTOR, 156 + 10);
    image[17 * SECTOR] = 255;
    image.write('CD001', 17 * SECTOR + 1, 'latin1');
    const record = (at: number, name: string, lba: number, length: number, flags: number) => {
      const size = 33 + name.length + (name.length % 2 === 0 ? 1 : 0);
      image[at] = size;
      image.writeUInt32LE(lba, at + 2);
      image.writeUInt32LE(length, at + 10);
      image[at + 25] = flags;
      image[at + 32] = name.length;
      image.write(name, at + 33, 'latin1');
      return at + size;
    };
    record(18 * SECTOR, 'SOURCES', 19, SECTOR, 2);
    record(record(19 * SECTOR, 'INSTALL.WIM;1', 20, 3000, 0x80), 'INSTALL.WIM;1', 22, 1000, 0);
    image.fill(0x61, 20 * SECTOR, 20 * SECTOR + 3000);
    image.fill(0x62, 22 * SECTOR, 22 * SECTOR + 1000);
    const source = { name: 'memory.iso', size: image.length, read: async (offset: number, length: number) => image.subarray(offset, offset + length) };
    const file = await findIso9660File(source, 'sources/install.wim');
    expect(file).toEqual({ size: 4000, extents: [{ offset: 20 * SECTOR, length: 3000 }, { offset: 22 * SECTOR, length: 1000 }] });
    expect((await readFileRange(source, file!, 2998, 4)).toString('latin1')).toBe('aabb');
    await expect(readFileRange(source, file!, 3999, 2)).rejects.toThrow(/memory\.iso cannot be read as an ISO image: a read of 2 bytes at 3999 lies outside a file of 4000 bytes/);
    await expect(findIso9660File({ ...source, size: 21 * SECTOR }, 'sources/install.wim')).rejects.toThrow(/past the image's end/);
  });

  it('volume descriptors: primary, Joliet (escape %/E), terminator, anything else', () => {
    const sector = (type: number, escapes = '') => {
      const s = Buffer.alloc(SECTOR);
      s[0] = type;
      s.write('CD001', 1, 'latin1');
      s.write(escapes, 88, 'latin1');
      s.writeUInt32LE(18, 158);
      return s;
    };
    expect(parseVolumeDescriptor(sector(1))).toMatchObject({ kind: 'primary', root: { lba: 18 } });
    expect(parseVolumeDescriptor(sector(2, '%/E'))).toMatchObject({ kind: 'joliet' });
    expect(parseVolumeDescriptor(sector(2))).toEqual({ kind: 'other' });
    expect(parseVolumeDescriptor(sector(255))).toEqual({ kind: 'terminator' });
    expect(parseVolumeDescriptor(Buffer.alloc(SECTOR))).toEqual({ kind: 'other' });
  });

  it('UDF tags need a good checksum; file identifiers decode 8- and 16-bit names', () => {
    const fid = (name: Buffer, characteristics: number) => {
      const length = Math.ceil((38 + name.length) / 4) * 4;
      const b = Buffer.alloc(length);
      b.writeUInt16LE(257, 0);
      b[18] = characteristics;
      b[19] = name.length;
      b.writeUInt32LE(7, 24);
      name.copy(b, 38);
      let sum = 0;
      for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + b[i]!) & 0xff;
      b[4] = sum;
      return b;
    };
    const both = Buffer.concat([fid(Buffer.alloc(0), 0x0a), fid(Buffer.concat([Buffer.from([8]), Buffer.from('sources')]), 2), fid(Buffer.concat([Buffer.from([16]), Buffer.from('install.wim', 'utf16le').swap16()]), 0)]);
    expect(parseFileIdentifiers(both).map((f) => [f.name, f.directory, f.parent, f.icb.lbn])).toEqual([['', true, true, 7], ['sources', true, false, 7], ['install.wim', false, false, 7]]);
    const broken = Buffer.from(both);
    broken[4] = (broken[4]! + 1) & 0xff;
    expect(tagId(broken)).toBeUndefined();
    expect(parseFileIdentifiers(broken)).toEqual([]);
  });
});

describe('choosing the entry, image and language', () => {
  it('catalog keys by installation type, build and edition', () => {
    expect([
      catalogKeyFor(image(1, 'Professional', 'Client', 22631)),
      catalogKeyFor(image(1, 'Professional', 'Client', 19045)),
      catalogKeyFor(image(1, 'EnterpriseS', 'Client', 26100)),
      catalogKeyFor(image(1, 'IoTEnterpriseS', 'Client', 26100)),
      catalogKeyFor(image(1, 'EnterpriseEval', 'Client', 22631)),
      catalogKeyFor(image(1, 'EnterpriseS', 'Client', 19044)),
      catalogKeyFor(image(1, 'ServerStandard', 'Server', 26100)),
      catalogKeyFor(image(1, 'ServerStandardEval', 'Server Core', 20348)),
      catalogKeyFor(image(1, 'ServerHyperCore', 'Server Core', 17763)),
      catalogKeyFor(image(1, 'ServerStandard', 'Server', 14393)),
      catalogKeyFor(image(1, 'Ultimate', 'Client', 7601, { arch: 'x86' })),
      catalogKeyFor(image(1, 'Professional', 'Client', 2600)),
    ]).toEqual(['11', '10', '11l', '11i', '11e', '10l', '2025', '2022', 'hv', '2016', '7ux86', undefined]);
  });

  it('EDITION words, full names, indexes; Standard is the Desktop Experience image, Standard Core the Core one', () => {
    const server = [image(1, 'ServerStandardEval', 'Server Core', 20348), image(2, 'ServerStandardEval', 'Server', 20348), image(3, 'ServerDatacenterEval', 'Server Core', 20348)];
    expect(imageFor(server, 'Standard')?.index).toBe(2);
    expect(imageFor(server, 'Standard Core')?.index).toBe(1);
    expect(imageFor(server, 'Core')?.index).toBe(1);
    expect(imageFor(server, 'Datacenter Core')?.index).toBe(3);
    expect(imageFor(server, 'Datacenter')?.index).toBe(3);
    expect(imageFor(server, '2')?.index).toBe(2);
    const client = [image(1, 'Core', 'Client', 22631, { name: 'Windows 11 Home' }), image(2, 'Professional', 'Client', 22631, { name: 'Windows 11 Pro' }), image(3, 'ProfessionalN', 'Client', 22631, { name: 'Windows 11 Pro N' })];
    expect([imageFor(client, 'Home')?.index, imageFor(client, 'pro')?.index, imageFor(client, 'Pro N')?.index, imageFor(client, 'Windows 11 Pro N')?.index, imageFor(client, 'Education')]).toEqual([1, 2, 3, 3, undefined]);
  });

  it('no EDITION and no VERSION edition on the media: the first Pro, else the first Standard, else image 1', () => {
    const media = (images: WimImage[]) => ({ kind: 'windows' as const, file: 'sources/install.wim', images });
    expect(chooseFromMedia(media([image(1, 'Core', 'Client', 22631), image(2, 'Professional', 'Client', 22631)]), config({ version: '11e' }))).toMatchObject({ kind: 'chosen', choice: { selector: { value: 2 } } });
    expect(chooseFromMedia(media([image(1, 'Core', 'Client', 22631)]), config())).toMatchObject({ kind: 'chosen', choice: { selector: { value: 1 }, editionName: 'Home' } });
    const unknown = chooseFromMedia(media([image(1, 'Core', 'Client', 22631)]), config({ edition: 'Education' }));
    expect(unknown.kind === 'chosen' && unknown.notes[0]).toMatch(/EDITION="Education" names no image on this ISO \(1: Core\)/);
    expect(chooseFromMedia(media([image(1, 'Professional', 'Client', 22631, { arch: 'arm64' })]), config())).toMatchObject({ kind: 'manual' });
    expect(chooseFromMedia(media([image(1, 'Professional', 'Client', 1000)]), config({ version: '10' }))).toMatchObject({ kind: 'fallback', entry: { key: '10' } });
    // tiny11 is an 11: VERSION's entry stays.
    expect(chooseFromMedia(media([image(1, 'Professional', 'Client', 26100)]), config({ version: 'tiny11' }))).toMatchObject({ kind: 'chosen', choice: { entry: { key: 'tiny11' } } });
  });

  it('the answer file settings take the image index, the edition\'s generic key and the media\'s language; KEY, REGION, KEYBOARD win', () => {
    const german = { kind: 'windows' as const, file: 'sources/install.wim', images: [image(1, 'Professional', 'Client', 19045, { languages: ['de-DE'], defaultLanguage: 'de-DE' })] };
    const decision = chooseFromMedia(german, config({ version: '10' }));
    if (decision.kind !== 'chosen') throw new Error(JSON.stringify(decision));
    const base = { username: 'Docker', password: 'admin', language: 'English', region: undefined, keyboard: undefined, edition: undefined, key: undefined, computerName: undefined };
    const settings = windowsSettings(base, decision.choice.entry).settings;
    expect(applyMediaChoice(settings, decision.choice, base)).toMatchObject({ image: { by: 'index', value: 1 }, productKey: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T', uiLanguage: 'de-DE', locale: 'de-DE', inputLocale: 'de-DE' });
    const own = { ...base, key: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE', region: 'de-AT', keyboard: '0407:00000407' };
    const mine = windowsSettings(own, decision.choice.entry).settings;
    expect(applyMediaChoice(mine, decision.choice, own)).toMatchObject({ productKey: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE', uiLanguage: 'de-DE', locale: 'de-AT', inputLocale: '0407:00000407' });
    // LANGUAGE=en-AU on English media keeps the Australian formats.
    const english = chooseFromMedia({ ...german, images: [image(1, 'Professional', 'Client', 19045)] }, config({ version: '10', language: 'en-AU' }));
    if (english.kind !== 'chosen') throw new Error(JSON.stringify(english));
    const au = { ...base, language: 'en-AU' };
    expect(applyMediaChoice(windowsSettings(au, english.choice.entry).settings, english.choice, au)).toMatchObject({ uiLanguage: 'en-US', locale: 'en-AU' });
  });

  it('BOOT names an ISO by its path or its URL\'s path', () => {
    expect([bootIsIso('/media/Win11.ISO'), bootIsIso('https://x.test/a/win.iso?sig=1'), bootIsIso('/base/golden.qcow2'), bootIsIso('https://x.test/iso/disk.img')]).toEqual([true, true, false, false]);
  });
});
