/**
 * The ESD route, as an adapter: fetch Microsoft's products.cab behind the catalog's fwlink, unpack
 * products.xml with cabextract, choose the ESD (esd-catalog.ts); once the storage stage has
 * downloaded it, check its size and SHA-1 against the catalog and build the ISO (esd-convert.ts).
 *
 * The SHA-1 is Microsoft's own digest from its catalog (the cab Microsoft signs; dockur/windows
 * `parseESD` takes it the same way): the only digest published for these files. The ESD itself
 * may come over plain HTTP (the catalog's FilePath), so the digest is what vouches for it; the cab
 * is trusted as fetched over HTTPS from Microsoft (its Authenticode signature is not checked).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { describeProgramEnd, runProgram } from '../process/run-program.js';
import type { MediaRoute } from './catalog.js';
import { chooseEsdFile, ESD_CATALOG_LINKS, parseProductsXml, type EsdFile } from './esd-catalog.js';
import { checkEsdSpace, convertEsdToIso } from './esd-convert.js';
import type { WindowsLanguage } from './languages.js';
import { MICROSOFT_ENDPOINTS, type Fetch } from './microsoft-download.js';

type EsdRoute = Extract<MediaRoute, { kind: 'esd' }>;

/** products.cab is a few hundred kilobytes; a limit guards against a wrong answer being an ISO. */
const MAX_CAB_BYTES = 32 * 2 ** 20;
const CABEXTRACT_TIMEOUT_MS = 60_000;
/** products.xml unpacked: some megabytes; more is not a catalog (a cab expands what it holds). */
const MAX_XML_BYTES = 64 * 2 ** 20;

export interface EsdCatalogOptions {
  /** Base of the fwlink redirects (https://go.microsoft.com; tests point it at a local server). */
  fwlink?: string;
  fetch?: Fetch;
  requestTimeoutMs?: number;
}

export class EsdCatalogClient {
  readonly #fwlink: string;
  readonly #fetch: Fetch;
  readonly #timeoutMs: number;

  constructor(options: EsdCatalogOptions = {}) {
    this.#fwlink = (options.fwlink ?? MICROSOFT_ENDPOINTS.fwlink).replace(/\/+$/, '');
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 60_000;
  }

  /** The catalog's ESD for the route and language; `workDir` (STORAGE) holds the cab while it is unpacked. */
  async getFile(route: EsdRoute, language: WindowsLanguage, workDir: string, signal: AbortSignal): Promise<EsdFile> {
    const url = `${this.#fwlink}${ESD_CATALOG_LINKS[route.product]}`;
    const cab = await this.#download(url, signal);
    const dir = await mkdtemp(join(workDir, '.windock-esd-catalog-'));
    try {
      await writeFile(join(dir, 'products.cab'), cab);
      const result = await runProgram(['cabextract', '-q', '-F', 'products.xml', '-d', dir, join(dir, 'products.cab')], { signal, timeoutMs: CABEXTRACT_TIMEOUT_MS, dieWithParent: true });
      if (result.endedBy === 'abort') signal.throwIfAborted();
      if (!result.ok) throw catalogFailure(url, `it cannot be unpacked: cabextract ${result.stderr.trim() || describeProgramEnd(result, CABEXTRACT_TIMEOUT_MS)}`);
      const xmlPath = join(dir, 'products.xml');
      const size = await stat(xmlPath).then((s) => s.size, (error: unknown) => {
        throw catalogFailure(url, `it holds no products.xml (${errorMessage(error)})`);
      });
      if (size > MAX_XML_BYTES) throw catalogFailure(url, `its products.xml is ${size} bytes, more than a catalog's ${MAX_XML_BYTES}`);
      const xml = await readFile(xmlPath, 'utf8');
      return chooseEsdFile(parseProductsXml(xml, `products.xml of ${url}`), route, language);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #download(url: string, signal: AbortSignal): Promise<Buffer> {
    let response: Response;
    try {
      response = await this.#fetch(url, { redirect: 'follow', signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]) });
    } catch (error) {
      signal.throwIfAborted();
      throw catalogFailure(url, `it cannot be fetched (${errorMessage(error)})`);
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw catalogFailure(url, `the answer was HTTP ${response.status}, expected 200 with products.cab`);
    }
    const length = Number(response.headers.get('content-length') ?? 'NaN');
    if (Number.isFinite(length) && length > MAX_CAB_BYTES) {
      await response.body?.cancel();
      throw catalogFailure(url, `the answer is ${length} bytes, more than a catalog's ${MAX_CAB_BYTES}`);
    }
    const body = Buffer.from(await response.arrayBuffer());
    if (body.length > MAX_CAB_BYTES) throw catalogFailure(url, `the answer is ${body.length} bytes, more than a catalog's ${MAX_CAB_BYTES}`);
    return body;
  }
}

/** The ISO's file name for an ESD's: the same stem (…_x64FRE_en-us.esd → …_x64FRE_en-us.iso). */
export function isoNameFor(esdFileName: string): string {
  return `${esdFileName.replace(/\.esd$/i, '')}.iso`;
}

export interface EsdBuild {
  file: EsdFile;
  /** The edition as the catalog entry names it, to pick the image ("Pro"). */
  edition: string;
  route: EsdRoute;
  iso: string;
  signal: AbortSignal;
  log: Logger;
}

/** Before the download: room for the ESD and for the conversion after it. */
export async function checkRoomForEsd(storage: string, esdPath: string, file: EsdFile): Promise<void> {
  const present = Math.max(await sizeOf(esdPath), await sizeOf(`${esdPath}.part`));
  await checkEsdSpace(storage, file.size, present);
}

/**
 * After the download: the ESD's size and SHA-1 as the catalog states them, then the ISO. A
 * mismatch deletes the ESD (a restart must not trust it); a verified ESD stays until the ISO is
 * whole, so that an interrupted conversion starts again without a download. A conversion that
 * fails by itself deletes it too: the next source is tried, and once another file is recorded
 * nothing would ever use (or remove) the gigabytes left behind.
 */
export async function isoFromEsd(esdPath: string, build: EsdBuild): Promise<string> {
  const { file, log } = build;
  const size = await sizeOf(esdPath);
  const sha1 = size === file.size ? await sha1Of(esdPath, build.signal) : undefined;
  if (sha1 !== file.sha1) {
    await unlink(esdPath).catch(() => undefined);
    const what = sha1 === undefined ? `is ${size} bytes, expected ${file.size}` : `has SHA-1 ${sha1}, expected ${file.sha1}`;
    throw new AppError('media', `the ESD ${esdPath} ${what} (Microsoft's catalog); it was deleted`, {
      hint: 'windock tries the next download source; a download that keeps arriving damaged points at a proxy or the network.',
      details: { file: esdPath, expectedSha1: file.sha1, actualSha1: sha1, expectedSize: file.size, size },
    });
  }
  log.info({ esd: esdPath, sha1, bytes: size, digest: "SHA-1 from Microsoft's signed ESD catalog" }, 'ESD verified');
  try {
    await convertEsdToIso({ esd: esdPath, iso: build.iso, edition: build.edition, editionId: build.route.edition, culture: file.languageCode, signal: build.signal, log });
  } catch (error) {
    if (!build.signal.aborted) {
      await unlink(esdPath).catch(() => undefined);
      log.warn({ esd: esdPath, reason: errorMessage(error) }, 'no ISO could be built from the ESD; the ESD is deleted');
    }
    throw error;
  }
  await unlink(esdPath);
  log.info({ iso: build.iso }, 'Windows Setup ISO built from the ESD; the ESD is deleted');
  return build.iso;
}

async function sha1Of(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

function catalogFailure(url: string, what: string): AppError {
  return new AppError('media', `Microsoft's ESD catalog ${url}: ${what}`, {
    hint: 'windock tries the next download source; check that the container reaches go.microsoft.com, or supply the ISO at /boot.iso or via BOOT.',
    details: { catalog: url },
  });
}
