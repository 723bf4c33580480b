/**
 * Finds the download URL of a Windows ISO at Microsoft: the consumer download flow behind
 * microsoft.com/software-download/windows11 (and windows10ISO), and the Evaluation Center pages.
 * It only resolves a URL (plus file name and size); which source to ask, and what follows a
 * refusal, is media-sources.ts; the bytes are fetched by the storage download code, which resumes
 * and verifies.
 *
 * The consumer flow, as the download page's own script and public clients (Fido by Pete Batard,
 * dockur/windows src/mido.sh, quickemu's quickget) perform it:
 *  1. GET  /<locale>/software-download/<page>   → the product edition id (`<option value="3321">Windows 11…`)
 *  2. GET  vlscppe /tags?org_id=…&session_id=S   → registers the session id S
 *  3. GET  ov-df /mdt.js?… then ov-df /?…w=…&rticks=…  → the anti-fraud handshake for S (Fido)
 *  4. GET  /software-download-connector/api/getskuinformationbyproductedition → `Skus[]` per language
 *  5. GET  /software-download-connector/api/GetProductDownloadLinksBySku (with a Referer)
 *     → `ProductDownloadOptions[]`, `DownloadType` 1 = x64 (Fido `Get-Arch-From-Type`).
 * A refused step 5 answers `{"Errors":[{"Key":"ErrorSettings.SentinelReject","Value":"Sentinel marked
 * this request as rejected.","Type":9}]}`; the download page shows the same refusal as message code
 * 715-123130. It is a ban of the caller's IP address that lasts about a day.
 *
 * All hosts are constructor parameters (tests point them at a local replay server); they are not
 * user settings.
 */
import { randomUUID } from 'node:crypto';
import { AppError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { fileNameFromUrl } from '../storage/media.js';
import type { MediaRoute } from './catalog.js';
import type { WindowsLanguage } from './languages.js';

/** What the storage download code needs: where, under which name, and what to expect. */
export interface DownloadTarget {
  url: string;
  /** File name under STORAGE (from the URL path, never its query: links carry tokens). */
  fileName: string;
  sha256?: string;
  size?: number;
  /** Which route produced it, for logs: "consumer", "evalcenter", "static". */
  route: MediaRoute['kind'];
}

export interface MicrosoftEndpoints {
  /** https://www.microsoft.com */
  www: string;
  /** https://vlscppe.microsoft.com (session registration) */
  vlscppe: string;
  /** https://ov-df.microsoft.com (anti-fraud handshake) */
  ovdf: string;
  /** https://go.microsoft.com (fwlink redirects of the Evaluation Center) */
  fwlink: string;
}

export const MICROSOFT_ENDPOINTS: MicrosoftEndpoints = {
  www: 'https://www.microsoft.com',
  vlscppe: 'https://vlscppe.microsoft.com',
  ovdf: 'https://ov-df.microsoft.com',
  fwlink: 'https://go.microsoft.com',
};

// Constants of the download page's own requests (Fido.ps1: $OrgId, $ProfileId, $InstanceId).
const ORG_ID = 'y6jn8c31';
const PROFILE_ID = '606624d44113';
const INSTANCE_ID = '560dc9f3-1aa5-4a2f-b63c-9e18f8d0e175';
/** ProductDownloadOptions[].DownloadType of the x64 ISO (Fido: 0 x86, 1 x64, 2 ARM64). */
const DOWNLOAD_TYPE_X64 = 1;
/** The ISO's file name when its download link names none. */
const ISO_FALLBACK_NAME = 'windows.iso';

export type Fetch = typeof fetch;

export interface ClientOptions {
  endpoints?: MicrosoftEndpoints;
  fetch?: Fetch;
  /** Session ids; random UUIDs by default (tests fix them). */
  newSessionId?: () => string;
  now?: () => number;
  /** Microsoft answers browsers: a current Firefox on Linux by default. */
  userAgent?: string;
  /** Deadline of each request. */
  requestTimeoutMs?: number;
  log?: Logger;
}

const DEFAULT_USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

/** The IP ban: its own error so that the message says what it is and what to do. */
export class MicrosoftBlockedError extends AppError {
  constructor(page: string, detail: string) {
    super(
      'media',
      `Microsoft refused to hand out the Windows download link (${page}): "${detail}" — this is Microsoft's block of your IP address (message code 715-123130), which usually lasts about a day`,
      {
        hint:
          'Wait a day and start again, or supply the ISO yourself: download it in a browser and mount it at /boot.iso ' +
          '(e.g. "-v ./win11.iso:/boot.iso:ro"), or set BOOT to its path or URL. Retrying at once does not help and may extend the block.',
        details: { page, detail, code: '715-123130' },
      },
    );
  }
}

class Http {
  readonly #fetch: Fetch;
  readonly #userAgent: string;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    this.#fetch = options.fetch ?? fetch;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  async get(url: string, signal: AbortSignal, init: { referer?: string; method?: 'GET' | 'HEAD'; redirect?: 'follow' | 'manual' } = {}): Promise<{ status: number; text: string; url: string; headers: Headers }> {
    const headers: Record<string, string> = { 'User-Agent': this.#userAgent, Accept: '*/*' };
    if (init.referer) headers['Referer'] = init.referer;
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: init.method ?? 'GET',
        headers,
        redirect: init.redirect ?? 'follow',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw new AppError('media', `cannot reach ${new URL(url).host}: ${errorMessage(error)}`, {
        hint: 'Check the container has Internet access (DNS and HTTPS), or supply the ISO at /boot.iso or via BOOT.',
        cause: error,
        details: { host: new URL(url).host },
      });
    }
    // Bodies are small HTML/JSON answers; a limit guards against a wrong URL serving an ISO.
    const text = init.method === 'HEAD' ? '' : await readLimited(response, 2 * 2 ** 20);
    return { status: response.status, text, url: response.url || url, headers: response.headers };
  }
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? 'NaN');
  if (Number.isFinite(length) && length > limit) {
    await response.body?.cancel();
    throw new AppError('media', `answer from ${response.url} is ${length} bytes, more than the ${limit} expected of a page`);
  }
  return response.text();
}

/** The consumer download flow client. */
export class ConsumerDownloadClient {
  readonly #endpoints: MicrosoftEndpoints;
  readonly #http: Http;
  readonly #newSessionId: () => string;
  readonly #now: () => number;
  readonly #log: Logger | undefined;

  constructor(options: ClientOptions = {}) {
    this.#endpoints = options.endpoints ?? MICROSOFT_ENDPOINTS;
    this.#http = new Http(options);
    this.#newSessionId = options.newSessionId ?? randomUUID;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
  }

  async getLink(page: 'windows11' | 'windows10ISO', language: WindowsLanguage, signal: AbortSignal): Promise<DownloadTarget> {
    const www = this.#endpoints.www;
    const pageUrl = `${www}/en-us/software-download/${page}`;
    const pageAnswer = await this.#http.get(pageUrl, signal);
    expectOk(pageAnswer, 'the download page');
    const productEditionId = parseProductEditionId(pageAnswer.text);
    if (!productEditionId) {
      throw changedFlow(`the download page ${pageUrl} lists no product edition ("<option value=…>Windows…")`);
    }
    const sessionId = this.#newSessionId();
    this.#log?.debug({ page, productEditionId }, 'Microsoft download session starting');

    // Registration and anti-fraud handshake: their answers carry nothing we need, but the link
    // request of a session that skipped them is refused.
    await this.#http.get(`${this.#endpoints.vlscppe}/tags?org_id=${ORG_ID}&session_id=${sessionId}`, signal);
    await this.#handshake(sessionId, signal);

    const query = (params: Record<string, string>) => new URLSearchParams({ profile: PROFILE_ID, ...params, friendlyFileName: 'undefined', Locale: 'en-US', sessionID: sessionId }).toString();
    const skuAnswer = await this.#http.get(
      `${www}/software-download-connector/api/getskuinformationbyproductedition?${query({ ProductEditionId: productEditionId, SKU: 'undefined' })}`,
      signal,
      { referer: pageUrl },
    );
    const skus = parseSkuList(skuAnswer.text, page);
    const sku = pickSku(skus, language);
    if (!sku) throw new NoLocalizedMediaError(`Microsoft's download flow`, page, language, skus.map((s) => s.Language), 'offers');

    const linkAnswer = await this.#http.get(
      `${www}/software-download-connector/api/GetProductDownloadLinksBySku?${query({ ProductEditionId: 'undefined', SKU: sku.Id })}`,
      signal,
      // The API refuses link requests without the download page as referer (Fido.ps1).
      { referer: `${www}/software-download/windows11` },
    );
    const link = parseDownloadLinks(linkAnswer.text, page);
    return { url: link, fileName: fileNameFromUrl(link, ISO_FALLBACK_NAME), route: 'consumer' };
  }

  async #handshake(sessionId: string, signal: AbortSignal): Promise<void> {
    const ovdf = this.#endpoints.ovdf;
    const script = await this.#http.get(`${ovdf}/mdt.js?instanceId=${INSTANCE_ID}&PageId=si&session_id=${sessionId}`, signal);
    const w = /[?&]w=([A-F0-9]+)/.exec(script.text)?.[1];
    const rticks = /rticks="\+?(\d+)/.exec(script.text)?.[1];
    if (!w || !rticks) {
      // Older flows worked without it; the link request will tell whether it is still needed.
      this.#log?.debug('Microsoft anti-fraud script had no w/rticks; continuing without the reply');
      return;
    }
    await this.#http.get(
      `${ovdf}/?session_id=${sessionId}&CustomerId=${INSTANCE_ID}&PageId=si&w=${w}&mdt=${this.#now()}&rticks=${rticks}`,
      signal,
    );
  }
}

/** Evaluation Center pages: links per culture, each an fwlink redirecting to the ISO. */
export class EvalCenterClient {
  readonly #endpoints: MicrosoftEndpoints;
  readonly #http: Http;

  constructor(options: ClientOptions = {}) {
    this.#endpoints = options.endpoints ?? MICROSOFT_ENDPOINTS;
    this.#http = new Http(options);
  }

  /**
   * The ISO of the page's `linkIndex`-th link for the language. Older pages tag each fwlink with
   * its culture in the query; current ones reuse the en-US query for every language, and only the
   * fwlink's redirect target names the culture (…_de-de.iso). So the target (Location, read
   * without following it) must carry the culture before the link is taken (dockur/windows
   * src/mido.sh `downloadWindowsEval`); none that does is `NoLocalizedMediaError`.
   */
  async getLink(page: string, linkIndex: number, language: WindowsLanguage, signal: AbortSignal): Promise<DownloadTarget> {
    const eval_ = language.evalCulture;
    if (!eval_) throw new NoLocalizedMediaError('the Evaluation Center', page, language, []);
    const pageUrl = `${this.#endpoints.www}/en-us/evalcenter/download-${page}`;
    const answer = await this.#http.get(pageUrl, signal);
    expectOk(answer, 'the Evaluation Center page');
    const links = parseEvalLinks(answer.text, this.#endpoints.fwlink);
    if (links.length === 0) throw changedFlow(`the Evaluation Center page ${pageUrl} has no download links`);
    const tagged = links.filter((l) => hasQueryCulture(l, eval_.culture, eval_.country));
    const matched: string[] = [];
    const seen: string[] = [];
    for (const link of tagged.length > 0 ? tagged : links) {
      if (matched.length > linkIndex) break;
      const hop = await this.#http.get(link, signal, { method: 'HEAD', redirect: 'manual' });
      const location = hop.headers.get('location');
      if (hop.status < 300 || hop.status >= 400 || !location) continue;
      const target = new URL(location, link).href;
      seen.push(fileNameFromUrl(target, target));
      if (namesCulture(target, eval_.culture)) matched.push(target);
    }
    const chosen = matched[linkIndex];
    if (!chosen) throw new NoLocalizedMediaError('the Evaluation Center', page, language, seen);
    // Follow the target to the file itself: its name is the ISO's name, its length the size.
    const head = await this.#http.get(chosen, signal, { method: 'HEAD' });
    expectOk(head, 'the Evaluation Center link');
    const length = Number(head.headers.get('content-length') ?? 'NaN');
    return {
      url: head.url,
      fileName: fileNameFromUrl(head.url, ISO_FALLBACK_NAME),
      ...(Number.isSafeInteger(length) && length > 0 ? { size: length } : {}),
      route: 'evalcenter',
    };
  }
}

/** Microsoft has no media in the language: a retry cannot change it; the English fallback's cue. */
export class NoLocalizedMediaError extends AppError {
  constructor(where: string, page: string, language: WindowsLanguage, seen: readonly string[], verb: 'offers' | 'leads to' = 'leads to') {
    const found = seen.length === 0 ? '' : verb === 'offers' ? `: languages offered: ${seen.join(', ')}` : `: its links lead to ${seen.join(', ')}`;
    super('media', `${where} offers no ${language.name} (${language.culture}) download of ${page}${found}`, {
      hint: 'windock falls back to English media with your REGION and KEYBOARD; or supply a localized ISO at /boot.iso.',
      details: { page, language: language.culture, seen },
    });
  }
}

// ---- parsing (pure) ----

export function parseProductEditionId(html: string): string | undefined {
  return /<option value="(\d{1,16})">Windows/.exec(html)?.[1];
}

interface Sku {
  Id: string;
  Language: string;
  LocalizedLanguage?: string;
}

/** Throws the blocked error when the answer is Microsoft's refusal, in JSON or HTML form. */
export function checkRefusal(text: string, page: string): void {
  if (/We are unable to complete your request at this time|715-123130|Sentinel marked this request as rejected/i.test(text)) {
    const json = tryJson(text) as { Errors?: { Value?: string }[] } | undefined;
    throw new MicrosoftBlockedError(page, json?.Errors?.[0]?.Value ?? 'We are unable to complete your request at this time.');
  }
  const json = tryJson(text) as { Errors?: { Key?: string; Value?: string; Type?: number }[] } | undefined;
  const errors = json?.Errors ?? [];
  // Fido treats Type 9 as the ban (its Get-Code-715-123130-Message); SentinelReject is its key.
  const ban = errors.find((e) => e.Type === 9 || e.Key === 'ErrorSettings.SentinelReject');
  if (ban) throw new MicrosoftBlockedError(page, ban.Value ?? ban.Key ?? 'rejected');
}

export function parseSkuList(text: string, page: string): Sku[] {
  checkRefusal(text, page);
  const json = tryJson(text) as { Skus?: unknown; Errors?: { Value?: string }[] } | undefined;
  if (json?.Errors?.length) throw changedFlow(`the language list request failed: ${json.Errors[0]?.Value ?? 'unknown error'}`);
  if (!json || !Array.isArray(json.Skus)) throw changedFlow('the language list answer has no "Skus" array');
  return (json.Skus as Sku[]).filter((s) => typeof s?.Id === 'string' && typeof s.Language === 'string');
}

export function pickSku(skus: readonly Sku[], language: WindowsLanguage): Sku | undefined {
  for (const name of language.skuNames) {
    const found = skus.find((s) => s.Language.toLowerCase() === name.toLowerCase());
    if (found) return found;
  }
  return undefined;
}

export function parseDownloadLinks(text: string, page: string): string {
  if (text.trim() === '') throw changedFlow('the download link answer is empty');
  checkRefusal(text, page);
  const json = tryJson(text) as { ProductDownloadOptions?: { Uri?: string; DownloadType?: number }[]; Errors?: { Value?: string }[] } | undefined;
  if (json?.Errors?.length) throw changedFlow(`the download link request failed: ${json.Errors[0]?.Value ?? 'unknown error'}`);
  const options = json?.ProductDownloadOptions ?? [];
  const x64 = options.find((o) => o.DownloadType === DOWNLOAD_TYPE_X64 && typeof o.Uri === 'string');
  if (!x64?.Uri) throw changedFlow(`the download link answer has no x64 ISO among ${options.length} options`);
  return x64.Uri;
}

/** Every fwlink of a page, in page order, once each (HTML may escape `&` as `&amp;`). */
export function parseEvalLinks(html: string, fwlinkBase: string): string[] {
  const base = fwlinkBase.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const pattern = new RegExp(`${base}/fwlink/(?:p/)?\\?[^"'<>\\s]+`, 'gi');
  return [...new Set([...html.replaceAll('&amp;', '&').replaceAll('&#38;', '&').matchAll(pattern)].map((m) => m[0]))];
}

/** Whether an fwlink's query names this culture and country (older Evaluation Center pages). */
export function hasQueryCulture(link: string, culture: string, country: string): boolean {
  const q = new URL(link).searchParams;
  return q.get('culture')?.toLowerCase() === culture && q.get('country')?.toLowerCase() === country;
}

/** Microsoft's own spellings of some cultures in file names (dockur/windows `downloadWindowsEval`). */
const CULTURE_SPELLINGS: Readonly<Record<string, readonly string[]>> = { 'ja-jp': ['jp-jp'], 'zh-tw': ['cn-tw'] };

/** Whether a download URL's path names the culture ("…_x64FRE_de-de.iso", "…_EN-US_DV9.ISO"). */
export function namesCulture(url: string, culture: string): boolean {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url).pathname).toLowerCase();
  } catch {
    return false;
  }
  return [culture, ...(CULTURE_SPELLINGS[culture] ?? [])].some((c) => {
    const [lang, region] = c.split('-');
    return new RegExp(`(^|[^a-z0-9])${lang}[-_]${region}([^a-z0-9]|$)`).test(path);
  });
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function expectOk(answer: { status: number; url: string }, what: string): void {
  if (answer.status < 200 || answer.status >= 300) {
    throw new AppError('media', `${what} (${answer.url}) answered HTTP ${answer.status}`, {
      hint: 'Microsoft may be down or have moved the page; supply the ISO at /boot.iso or via BOOT meanwhile.',
      details: { status: answer.status },
    });
  }
}

function changedFlow(what: string): AppError {
  return new AppError('media', `Microsoft's download flow answered unexpectedly: ${what}`, {
    hint: 'Microsoft may have changed its download pages. Supply the ISO at /boot.iso or via BOOT, and report this to windock.',
  });
}
