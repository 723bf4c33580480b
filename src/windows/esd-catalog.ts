/**
 * Microsoft's ESD catalog, the one the Media Creation Tool reads: a products.cab behind a
 * go.microsoft.com fwlink, holding products.xml. Its
 * `<MCT><Catalogs><Catalog><PublishedMedia><Files><File>` elements each describe one ESD:
 * `FileName`, `LanguageCode` (en-us), `Language`, `Edition` (Professional, Enterprise…),
 * `Architecture` (x64), `Size`, `Sha1` and `FilePath` (the ESD's URL). Pure: parsing and the
 * choice of one File; esd-media.ts fetches and unpacks the cab.
 *
 * Facts from dockur/windows src/mido.sh `getCatalog` (the links) and `parseESD` (the choice:
 * architecture, edition and culture compared case-insensitively, tag names too; "no file for the
 * edition" told apart from "none in the language").
 */
import { create } from 'xmlbuilder2';
import { AppError, errorMessage } from '../core/errors.js';
import type { MediaRoute } from './catalog.js';
import type { WindowsLanguage } from './languages.js';
import { NoLocalizedMediaError } from './microsoft-download.js';

type EsdRoute = Extract<MediaRoute, { kind: 'esd' }>;

/** The fwlink (path and query below the fwlink host) of each product's catalog (mido.sh `getCatalog`). */
export const ESD_CATALOG_LINKS: Record<EsdRoute['product'], string> = {
  windows11: '/fwlink?linkid=2156292',
  windows10: '/fwlink/?LinkId=841361',
};

/** The catalog's own name for the x64 architecture (mido.sh: PLATFORM "x64"). */
const X64 = 'x64';

export interface EsdFile {
  fileName: string;
  /** LanguageCode as the catalog writes it (lower case: "en-us"). */
  languageCode: string;
  edition: string;
  architecture: string;
  size: number;
  /** Lower-case hex SHA-1 (Microsoft publishes no SHA-256 here). */
  sha1: string;
  url: string;
}

interface DomNode {
  nodeType: number;
  localName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}

const SHA1 = /^[0-9a-f]{40}$/;

/**
 * Every complete File of the catalog. A File lacking its URL, a SHA-1 or a size is left out (the
 * catalog lists other kinds of files too); text that is not XML, or XML without a File at all, is
 * an AppError naming where it came from.
 */
export function parseProductsXml(text: string, source: string): EsdFile[] {
  let root: DomNode;
  try {
    const doc = create(text.replace(/^\uFEFF/, '')).node as unknown as { documentElement: DomNode | null };
    // xmlbuilder2 makes a nameless element of empty text.
    if (!doc.documentElement?.localName) throw new Error('no root element');
    root = doc.documentElement;
  } catch (error) {
    throw catalogError(source, `is not well-formed XML (${errorMessage(error)})`, error);
  }
  const elements = descendants(root, 'file');
  if (elements.length === 0) throw catalogError(source, `lists no <File> (root element <${root.localName}>)`);
  const files: EsdFile[] = [];
  for (const element of elements) {
    const field = (name: string) => {
      const child = Array.from(element.childNodes).find((c) => c.nodeType === 1 && c.localName.toLowerCase() === name);
      return child?.textContent?.trim() ?? '';
    };
    const size = Number(field('size'));
    const sha1 = field('sha1').toLowerCase();
    const url = field('filepath');
    if (!url || !SHA1.test(sha1) || !Number.isSafeInteger(size) || size <= 0) continue;
    files.push({ fileName: field('filename'), languageCode: field('languagecode'), edition: field('edition'), architecture: field('architecture'), size, sha1, url });
  }
  return files;
}

/**
 * The ESD for the route's edition, x64, in the language. None for the edition at all is an
 * AppError; files for the edition but none in the language is a NoLocalizedMediaError, the
 * definitive answer after which the English pass of media-sources.ts applies.
 */
export function chooseEsdFile(files: readonly EsdFile[], route: EsdRoute, language: WindowsLanguage): EsdFile {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const edition = files.filter((f) => same(f.architecture, X64) && same(f.edition, route.edition));
  if (edition.length === 0) {
    const editions = [...new Set(files.filter((f) => same(f.architecture, X64)).map((f) => f.edition))].sort();
    throw new AppError('media', `Microsoft's ESD catalog of ${route.product} lists no ${X64} ${route.edition} ESD (editions listed: ${editions.join(', ') || 'none'})`, {
      hint: 'windock tries the next download source; supply the ISO at /boot.iso or via BOOT if none works.',
      details: { product: route.product, edition: route.edition, editions },
    });
  }
  const chosen = edition.find((f) => same(f.languageCode, language.culture));
  if (chosen) return chosen;
  const seen = [...new Set(edition.map((f) => f.languageCode))].sort();
  throw new NoLocalizedMediaError("Microsoft's ESD catalog", `${route.product} ${route.edition}`, language, seen, 'offers');
}

function descendants(node: DomNode, name: string): DomNode[] {
  const found: DomNode[] = [];
  const stack = [node];
  while (stack.length > 0) {
    const current = stack.pop()!;
    if (current.nodeType !== 1) continue;
    if (current.localName.toLowerCase() === name) {
      found.push(current);
      continue;
    }
    stack.push(...Array.from(current.childNodes).reverse());
  }
  return found;
}

function catalogError(source: string, what: string, cause?: unknown): AppError {
  return new AppError('media', `the ESD catalog ${source} ${what}`, {
    hint: 'windock tries the next download source; Microsoft may have changed the catalog format.',
    details: { catalog: source },
    ...(cause === undefined ? {} : { cause }),
  });
}
