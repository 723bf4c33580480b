/**
 * Static files for the viewer (our page and the noVNC ES modules), served safely: a URL path maps
 * into one directory only after percent-decoding and segment checks (no "..", no hidden files, no
 * backslashes or NULs), and the resolved real path (symlinks followed) must still be inside the
 * directory's real path. Only known file types are served, each with its MIME type, nosniff, and
 * an ETag so that revalidation (Cache-Control: no-cache) costs a 304.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * The path below a mount, as a relative file path, or undefined when it is not a safe one.
 * `rest` is the part of the URL path after the mount prefix, still percent-encoded.
 */
export function safeRelativePath(rest: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.length === 0) return undefined;
  // "." and ".." are traversal; other dot-files (.git, .env) are never content.
  if (segments.some((s) => s.startsWith('.'))) return undefined;
  if (!(extname(segments[segments.length - 1]!) in MIME_TYPES)) return undefined;
  return segments.join('/');
}

/** `W/"<size>-<mtime>"`: changes whenever the file is replaced or rewritten. */
export function etagOf(size: number, mtimeMs: number): string {
  return `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

export interface ServeOptions {
  /** Extra headers (security headers of the page). */
  headers?: Record<string, string>;
  cacheControl?: string;
}

/**
 * Serves `relative` from `dir`, or answers 404. Resolves when the response is finished or failed.
 * `dir` should already be a real path (see `realDir`), so the containment check is exact.
 */
export async function serveFile(req: IncomingMessage, res: ServerResponse, dir: string, relative: string, options: ServeOptions = {}): Promise<void> {
  const file = await containedRealPath(dir, relative);
  const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
  if (file === undefined || info === undefined || !info.isFile()) {
    sendText(res, 404, 'not found\n');
    return;
  }
  const etag = etagOf(info.size, info.mtimeMs);
  const headers: Record<string, string | number> = {
    'Content-Type': MIME_TYPES[extname(file)] ?? 'application/octet-stream',
    'X-Content-Type-Options': 'nosniff',
    // The files are behind the viewer token: no shared caches; revalidate so that an upgraded
    // windock never runs a stale page against a new server.
    'Cache-Control': options.cacheControl ?? 'private, no-cache',
    ETag: etag,
    'Last-Modified': info.mtime.toUTCString(),
    ...options.headers,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  headers['Content-Length'] = info.size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

/** The real path of `relative` inside `dir`, or undefined when it is missing or leads outside. */
async function containedRealPath(dir: string, relative: string): Promise<string | undefined> {
  const real = await realpath(join(dir, relative)).catch(() => undefined);
  if (real === undefined) return undefined;
  return real.startsWith(dir.endsWith(sep) ? dir : dir + sep) ? real : undefined;
}

export async function realDir(dir: string): Promise<string> {
  return realpath(dir);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}
