/**
 * What one HTTP answer means for a resumable download: pure, from the status, the headers, the
 * sidecar of the part and the offset that was asked for, to one of
 *   append   — the body continues the part at the offset (206 at the offset, or 200 from 0);
 *   restart  — the body is the whole file while a resume was asked for (a server that ignores
 *              Range, or whose file changed: If-Range answers 200, RFC 9110 §13.1.5): throw the
 *              part away and write this body from 0;
 *   complete — the part already holds the whole file (416 at exactly its end);
 *   retry    — another request may work (408, 429, 5xx; or the part must go first);
 *   fail     — no request will (401/403/404/410, a 206 at another offset, anything else).
 * A piece of a download over several connections (a closed Range, `decidePiece`) is judged on
 * its own terms: its bytes, or a sign that the file changed (restart everything) or that the
 * server ignores Range (continue on one connection).
 * The job (job.ts, parallel.ts) acts on the decision; nothing here touches a file or the network.
 */
import type { PartSidecar } from './part-file.js';

export interface Validators {
  etag: string | undefined;
  lastModified: string | undefined;
}

/** A warning to log when the part is thrown away before the decision is acted on. */
export interface Discard {
  message: string;
  fields: Record<string, unknown>;
}

export type ResponseDecision =
  | { action: 'append'; validators: Validators; total: number | undefined }
  | { action: 'restart'; validators: Validators; total: number | undefined; discard: Discard }
  | { action: 'complete' }
  | { action: 'retry'; reason: string; retryAfterMs: number | undefined; discard?: Discard }
  | { action: 'fail'; reason: string };

export interface ResponseFacts {
  status: number;
  statusText: string;
  headers: Pick<Headers, 'get'>;
  /** The byte the request asked to start at (0: no Range was sent). */
  offset: number;
  sidecar: Pick<PartSidecar, 'etag' | 'lastModified' | 'total'>;
  /** The URL as it may be shown (publicUrl), for messages. */
  shownUrl: string;
  /** Wall-clock milliseconds since the epoch, for a Retry-After given as a date. */
  now: number;
}

/** HTTP statuses worth another try (RFC 9110 §15.5.9 408, RFC 6585 §4 429, and 5xx). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** "bytes 100-199/1000" → { start: 100, end: 199, total: 1000 } (RFC 9110 §14.4). */
export function parseContentRange(header: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? undefined : Number(match[3]) };
}

/** `If-Range` needs a strong validator: a weak ETag (W/"...") must not be used (RFC 9110 §13.1.5). */
export function ifRangeValue(sidecar: Pick<PartSidecar, 'etag' | 'lastModified'>): string | undefined {
  if (sidecar.etag && !sidecar.etag.startsWith('W/')) return sidecar.etag;
  return sidecar.lastModified;
}

/**
 * The request's headers: a resume from `offset` only against a strong validator. `probe` (more
 * than one connection allowed) asks a fresh download for `bytes=0-`: a 206 says the server
 * honours Range, and the body is the file from its first byte either way.
 */
export function requestHeaders(sidecar: Pick<PartSidecar, 'etag' | 'lastModified'>, offset: number, probe = false): Record<string, string> {
  const headers: Record<string, string> = {
    // Bytes as stored on the server: no transparent decompression (which would also make
    // Range offsets meaningless).
    'accept-encoding': 'identity',
  };
  const validator = ifRangeValue(sidecar);
  if (offset > 0 && validator) {
    headers['range'] = `bytes=${offset}-`;
    headers['if-range'] = validator;
  } else if (offset === 0 && probe) {
    headers['range'] = 'bytes=0-';
  }
  return headers;
}

/** A piece's headers: bytes [start, end) of the version the validator names (RFC 9110 §14.1.2). */
export function pieceHeaders(validator: string, start: number, end: number): Record<string, string> {
  return { 'accept-encoding': 'identity', range: `bytes=${start}-${end - 1}`, 'if-range': validator };
}

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Whether the answer's validator names another version of the file than the part's. */
export function validatorChanged(sidecar: Pick<PartSidecar, 'etag' | 'lastModified'>, etag: string | undefined, lastModified: string | undefined): boolean {
  if (sidecar.etag && etag) return sidecar.etag !== etag;
  if (sidecar.lastModified && lastModified) return sidecar.lastModified !== lastModified;
  return false;
}

const REFUSALS: Record<number, string> = {
  401: 'asks for credentials (401)',
  403: 'refused access (403 Forbidden)',
  404: 'has no such file (404 Not Found)',
  410: 'no longer has the file (410 Gone)',
};

export function decideResponse(facts: ResponseFacts): ResponseDecision {
  const { status, statusText, headers, offset, sidecar, shownUrl } = facts;
  if (status === 416 && offset > 0) return decideUnsatisfiable(facts);
  const refusal = REFUSALS[status];
  if (refusal) return { action: 'fail', reason: `the server ${refusal} for ${shownUrl}` };
  if (isRetryableStatus(status)) {
    return { action: 'retry', reason: `the server answered ${status} ${statusText}`.trim(), retryAfterMs: retryAfterMs(headers.get('retry-after'), facts.now) };
  }
  if (status !== 200 && status !== 206) return { action: 'fail', reason: `the server answered ${status} ${statusText} for ${shownUrl}`.trim() };

  const validators: Validators = { etag: headers.get('etag') ?? undefined, lastModified: headers.get('last-modified') ?? undefined };
  if (status === 206) return decidePartial(facts, validators);
  const length = headers.get('content-length');
  const total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  if (offset === 0) return { action: 'append', validators, total };
  const reason = validatorChanged(sidecar, validators.etag, validators.lastModified) ? 'the file changed on the server' : 'the server ignores Range';
  return {
    action: 'restart',
    validators,
    total,
    discard: { message: 'the server sent the whole file; starting from the beginning', fields: { bytesDone: offset, reason } },
  };
}

function spliceRefusal(offset: number, header: string | null): string {
  return `the server answered a request for bytes from ${offset} with Content-Range ${JSON.stringify(header)}; refusing to splice it`;
}

/** 416 on a resume: the part may already be complete (killed before the rename). */
function decideUnsatisfiable({ status, headers, offset, sidecar }: ResponseFacts): ResponseDecision {
  const range = /^bytes \*\/(\d+)$/.exec(headers.get('content-range') ?? '');
  if (range && Number(range[1]) === offset && (sidecar.total === undefined || sidecar.total === offset)) return { action: 'complete' };
  return {
    action: 'retry',
    reason: 'range not satisfiable',
    retryAfterMs: 0,
    discard: { message: 'the server refused the resume range; starting from the beginning', fields: { status } },
  };
}

/** 206: only bytes from exactly the offset, of the same version of the file, may be spliced on. */
function decidePartial({ headers, offset, sidecar }: ResponseFacts, validators: Validators): ResponseDecision {
  const header = headers.get('content-range');
  const range = parseContentRange(header);
  if (!range || range.start !== offset) {
    return { action: 'fail', reason: spliceRefusal(offset, header) };
  }
  const { etag, lastModified } = validators;
  const changed = (sidecar.etag && etag && etag !== sidecar.etag) || (!sidecar.etag && sidecar.lastModified && lastModified && lastModified !== sidecar.lastModified);
  if (changed) {
    return {
      action: 'retry',
      reason: 'the file changed on the server',
      retryAfterMs: 0,
      discard: { message: 'the file changed on the server; starting from the beginning', fields: { before: sidecar.etag ?? sidecar.lastModified, now: etag ?? lastModified } },
    };
  }
  return { action: 'append', validators, total: range.total };
}

export type PieceDecision =
  | { action: 'stream' }
  /** The file changed on the server: every piece must be thrown away. */
  | { action: 'changed'; reason: string }
  /** The server sent the whole file to a Range request: continue on one connection. */
  | { action: 'single'; reason: string }
  | { action: 'retry'; reason: string; retryAfterMs: number | undefined }
  | { action: 'fail'; reason: string };

export interface PieceFacts {
  status: number;
  statusText: string;
  headers: Pick<Headers, 'get'>;
  /** The piece asked for: bytes [start, end) of a file of `total` bytes. */
  start: number;
  end: number;
  total: number;
  sidecar: Pick<PartSidecar, 'etag' | 'lastModified'>;
  shownUrl: string;
  now: number;
}

/** One piece's answer: only bytes from exactly `start`, of the same version and size, are written. */
export function decidePiece(facts: PieceFacts): PieceDecision {
  const { status, statusText, headers, start, total, sidecar, shownUrl } = facts;
  const refusal = REFUSALS[status];
  if (refusal) return { action: 'fail', reason: `the server ${refusal} for ${shownUrl}` };
  if (isRetryableStatus(status)) {
    return { action: 'retry', reason: `the server answered ${status} ${statusText}`.trim(), retryAfterMs: retryAfterMs(headers.get('retry-after'), facts.now) };
  }
  const changed = validatorChanged(sidecar, headers.get('etag') ?? undefined, headers.get('last-modified') ?? undefined);
  // 200 to If-Range: another version (RFC 9110 §13.1.5), or a server that ignores Range.
  if (status === 200) return changed ? { action: 'changed', reason: 'the file changed on the server' } : { action: 'single', reason: 'the server ignores Range' };
  // A range inside the file the part belongs to is unsatisfiable only when the file shrank.
  if (status === 416) return { action: 'changed', reason: 'the file on the server is shorter than before' };
  if (status !== 206) return { action: 'fail', reason: `the server answered ${status} ${statusText} for ${shownUrl}`.trim() };
  const header = headers.get('content-range');
  const range = parseContentRange(header);
  if (changed || (range?.total !== undefined && range.total !== total)) return { action: 'changed', reason: 'the file changed on the server' };
  if (!range || range.start !== start) {
    return { action: 'fail', reason: spliceRefusal(start, header) };
  }
  return { action: 'stream' };
}
