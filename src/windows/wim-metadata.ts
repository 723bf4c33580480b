/**
 * What the images in a Windows ISO's `sources/install.wim` (or `install.esd`) are: index, name,
 * edition, installation type, languages, architecture, version. Read from the WIM's header and
 * its XML data, the only two parts that are needed (a few hundred kilobytes at most) — never the
 * gigabytes of file data.
 *
 * The WIM format, as wimlib documents it (include/wimlib/header.h, resource.h, src/xml.c):
 *  - the header, 208 bytes at offset 0: magic "MSWIM\0\0\0" (ESD files too; "WLPWM\0\0\0" for
 *    wimlib's pipable WIMs), hdr_size (208) at +0x08, image_count at +0x2C, and the resource
 *    header of the XML data at +0x48;
 *  - a resource header (wim_reshdr_disk, 24 bytes): size_in_wim (7 bytes LE), flags (1 byte;
 *    0x04 compressed), offset_in_wim (8 bytes LE), uncompressed_size (8 bytes LE);
 *  - the XML data is stored uncompressed, UTF-16LE with a byte-order mark:
 *    <WIM><IMAGE INDEX="1"><NAME>…</NAME><FLAGS>…</FLAGS><WINDOWS><ARCH>9</ARCH>
 *    <EDITIONID>…</EDITIONID><INSTALLATIONTYPE>…</INSTALLATIONTYPE><LANGUAGES><LANGUAGE>…
 *    </LANGUAGE><DEFAULT>…</DEFAULT></LANGUAGES><VERSION><MAJOR/><MINOR/><BUILD/></VERSION>
 *    </WINDOWS></IMAGE>…</WIM>. ARCH is a PROCESSOR_ARCHITECTURE value: 0 x86, 9 x64, 12 ARM64.
 * Parsing is pure; readInstallImages is the adapter.
 */
import { basename } from 'node:path';
import { AppError, errorMessage } from '../core/errors.js';
import { FileByteSource, findIso9660File, isoError, readFileRange, type ByteSource, type FileExtents } from './iso-reader.js';
import { findUdfFile, hasUdf } from './udf-reader.js';

export const WIM_HEADER_SIZE = 208;
/** Real install.wim XML is tens of kilobytes (11 editions: ~40 KB); more is refused, not read. */
export const MAX_WIM_XML_BYTES = 2 * 1024 * 1024;
const RESHDR_COMPRESSED = 0x04;

export interface WimHeader {
  imageCount: number;
  xml: { offset: number; size: number; compressed: boolean };
}

export interface WimImage {
  index: number;
  name: string | undefined;
  description: string | undefined;
  flags: string | undefined;
  editionId: string | undefined;
  /** "Client", "Server", "Server Core", "WindowsPE". */
  installationType: string | undefined;
  languages: string[];
  defaultLanguage: string | undefined;
  arch: 'x86' | 'amd64' | 'arm64' | undefined;
  version: { major: number; minor: number; build: number } | undefined;
}

/** Pure: the header's facts; a string saying what is wrong when the bytes are not a WIM header. */
export function parseWimHeader(bytes: Buffer): WimHeader | string {
  if (bytes.length < WIM_HEADER_SIZE) return `${bytes.length} bytes, shorter than a WIM header (${WIM_HEADER_SIZE})`;
  const magic = bytes.toString('latin1', 0, 8);
  if (magic !== 'MSWIM\0\0\0' && magic !== 'WLPWM\0\0\0') return `no WIM magic ("MSWIM"): ${JSON.stringify(magic)}`;
  const headerSize = bytes.readUInt32LE(0x08);
  if (headerSize !== WIM_HEADER_SIZE) return `a WIM header size of ${headerSize}, expected ${WIM_HEADER_SIZE}`;
  const at = 0x48;
  const size = bytes.readUIntLE(at, 6) + bytes[at + 6]! * 2 ** 48;
  const flags = bytes[at + 7]!;
  const offset = Number(bytes.readBigUInt64LE(at + 8));
  return { imageCount: bytes.readUInt32LE(0x2c), xml: { offset, size, compressed: (flags & RESHDR_COMPRESSED) !== 0 } };
}

/** Pure: the images described by the XML data (UTF-16LE bytes, with or without a BOM). */
export function parseWimXml(bytes: Buffer): WimImage[] {
  let text = bytes.subarray(0, bytes.length - (bytes.length % 2)).toString('utf16le');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const images: WimImage[] = [];
  for (const { attributes, body } of elements(text, 'IMAGE')) {
    const index = Number(/\bINDEX\s*=\s*"(\d+)"/.exec(attributes)?.[1]);
    if (!Number.isInteger(index) || index < 1) continue;
    const windows = element(body, 'WINDOWS') ?? '';
    const languagesBlock = element(windows, 'LANGUAGES') ?? '';
    const version = element(windows, 'VERSION');
    images.push({
      index,
      name: textOf(body, 'NAME'),
      description: textOf(body, 'DESCRIPTION'),
      flags: textOf(body, 'FLAGS'),
      editionId: textOf(windows, 'EDITIONID'),
      installationType: textOf(windows, 'INSTALLATIONTYPE'),
      languages: elements(languagesBlock, 'LANGUAGE').map((e) => unescapeXml(e.body).trim()).filter(Boolean),
      defaultLanguage: textOf(languagesBlock, 'DEFAULT'),
      arch: archOf(textOf(windows, 'ARCH')),
      version: version === undefined ? undefined : { major: numberOf(version, 'MAJOR'), minor: numberOf(version, 'MINOR'), build: numberOf(version, 'BUILD') },
    });
  }
  return images.sort((a, b) => a.index - b.index);
}

/**
 * The `<tag …>body</tag>` elements of `text`, in order, found with indexOf: linear in the text's
 * length whatever it holds (a regular expression with a lazy body is quadratic on hostile XML
 * that opens many tags and closes none). Nested elements of the same name are not needed here.
 */
function elements(text: string, tag: string, limit = Number.POSITIVE_INFINITY): { attributes: string; body: string }[] {
  const found: { attributes: string; body: string }[] = [];
  const close = `</${tag}>`;
  let at = 0;
  while (found.length < limit) {
    const start = text.indexOf(`<${tag}`, at);
    if (start < 0) break;
    const next = text[start + tag.length + 1];
    if (next !== '>' && next !== ' ' && next !== '\t' && next !== '\r' && next !== '\n') {
      at = start + 1;
      continue;
    }
    const open = text.indexOf('>', start);
    const end = open < 0 ? -1 : text.indexOf(close, open);
    if (end < 0) break;
    found.push({ attributes: text.slice(start + tag.length + 1, open), body: text.slice(open + 1, end) });
    at = end + close.length;
  }
  return found;
}

function element(text: string, tag: string): string | undefined {
  return elements(text, tag, 1)[0]?.body;
}

function textOf(text: string, tag: string): string | undefined {
  const raw = element(text, tag);
  const value = raw === undefined ? undefined : unescapeXml(raw).trim();
  return value ? value : undefined;
}

function numberOf(text: string, tag: string): number {
  const value = Number(textOf(text, tag));
  return Number.isFinite(value) ? value : 0;
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (lower === 'lt') return '<';
    if (lower === 'gt') return '>';
    if (lower === 'amp') return '&';
    if (lower === 'quot') return '"';
    if (lower === 'apos') return "'";
    const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function archOf(value: string | undefined): WimImage['arch'] {
  if (value === '0') return 'x86';
  if (value === '9') return 'amd64';
  if (value === '12') return 'arm64';
  return undefined;
}

/** The install image files Windows Setup reads, in its order of preference. */
export const INSTALL_IMAGE_PATHS = ['sources/install.wim', 'sources/install.esd'] as const;

export type IsoMetadata =
  | { kind: 'windows'; file: string; images: WimImage[] }
  /** The image is a readable ISO but has no install image: not Windows Setup media (a Linux ISO). */
  | { kind: 'not-windows' };

/** Reads the install image's metadata from an ISO at `path`. AppError (code media) naming the file when it cannot. */
export async function readIsoMetadata(path: string): Promise<IsoMetadata> {
  const source = await FileByteSource.open(path);
  try {
    return await readSourceMetadata(source);
  } finally {
    await source.close();
  }
}

/** readInstallImages, with any error but an AppError (or a stop request) named as the image's fault. */
export async function readSourceMetadata(source: ByteSource, signal?: AbortSignal): Promise<IsoMetadata> {
  try {
    return await readInstallImages(source);
  } catch (error) {
    // A hostile structure may still trip a bounds check of Buffer itself (RangeError): it is the ISO's fault, named as such.
    if (error instanceof AppError || signal?.aborted) throw error;
    throw isoError(source, `a malformed structure (${errorMessage(error)})`, error);
  }
}

export async function readInstallImages(source: ByteSource): Promise<IsoMetadata> {
  const udf = await hasUdf(source);
  for (const path of INSTALL_IMAGE_PATHS) {
    // UDF first: on a bridge disc the ISO 9660 side may lack the file (Microsoft's) or hold a stub.
    const file = (udf ? await findUdfFile(source, path) : undefined) ?? (await findIso9660File(source, path));
    if (file) return { kind: 'windows', file: path, images: await readWimImages(source, file, path) };
  }
  return { kind: 'not-windows' };
}

/** The images of a WIM or ESD file itself (not inside an ISO): its header and XML data only. */
export async function readWimFile(path: string): Promise<WimImage[]> {
  const source = await FileByteSource.open(path);
  try {
    return await readWimImages(source, { size: source.size, extents: [{ offset: 0, length: source.size }] }, basename(path));
  } finally {
    await source.close();
  }
}

async function readWimImages(source: ByteSource, file: FileExtents, path: string): Promise<WimImage[]> {
  const fail = (what: string) =>
    new AppError('media', `${source.name}: ${path} is not a WIM file windock can read: ${what}`, {
      hint: 'Check that the ISO is whole and undamaged; windock falls back to VERSION\'s catalog entry.',
      details: { iso: source.name, file: path },
    });
  if (file.size < WIM_HEADER_SIZE) throw fail(`${file.size} bytes, shorter than a WIM header`);
  const header = parseWimHeader(await readFileRange(source, file, 0, WIM_HEADER_SIZE));
  if (typeof header === 'string') throw fail(header);
  const { xml } = header;
  if (xml.compressed) throw fail('its XML data is compressed, which no WIM writer does');
  if (xml.size === 0 || xml.size > MAX_WIM_XML_BYTES) throw fail(`an XML data size of ${xml.size} bytes (expected 1..${MAX_WIM_XML_BYTES})`);
  if (xml.offset + xml.size > file.size) throw fail(`its XML data lies at ${xml.offset}..${xml.offset + xml.size}, past the file's end at ${file.size} (truncated?)`);
  const images = parseWimXml(await readFileRange(source, file, xml.offset, xml.size));
  if (images.length === 0) throw fail('its XML data describes no image');
  return images;
}
