/**
 * Snapshots on the viewer's origin, for a user holding the viewer token: a small JSON API that
 * hands the same requests as the control socket to the same handler (lab-stage.ts).
 *
 *   GET    /api/snapshots                  → 200 [{name, date, vmStateBytes}]
 *   POST   /api/snapshots         {"name"} → save
 *   POST   /api/snapshots/NAME/revert  {"discardChanges"?} → revert
 *   DELETE /api/snapshots/NAME            → delete
 *   POST   /api/reset             {"discardChanges"?} → reset
 *
 * Errors: 400 for a refused request (bad name, unknown snapshot, name taken), 401 without the
 * token, 403 cross-origin, 405, 413, 500 otherwise; the body is `{"error":{code,message,hint}}`.
 * A changing request must come from the page's own origin (Origin header) with a JSON body: with
 * WEB_AUTH=N there is no cookie to protect it, and a cross-site HTML form can send neither.
 */
import { parseRequestTarget } from '../http/request-target.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAuthorizer } from '../http/auth.js';
import type { RequestDelegate } from '../http/server.js';
import { sameOrigin } from '../http/viewer.js';
import { errorBody, parseRequest, type ControlErrorBody, type ControlRequest } from './control-protocol.js';

const MAX_BODY_BYTES = 4096;

/** An API request, mapped to a control request line (validated by parseRequest), or an HTTP refusal. */
export function apiRequest(method: string, path: string, body: Record<string, unknown>): { line: string } | { status: number; message: string } | undefined {
  if (path === '/api/reset') {
    if (method !== 'POST') return { status: 405, message: 'use POST /api/reset' };
    return { line: JSON.stringify({ op: 'reset', discardChanges: body['discardChanges'] }) };
  }
  if (path === '/api/snapshots') {
    if (method === 'GET' || method === 'HEAD') return { line: JSON.stringify({ op: 'snapshot-list' }) };
    if (method === 'POST') return { line: JSON.stringify({ op: 'snapshot-save', name: body['name'] }) };
    return { status: 405, message: 'use GET or POST /api/snapshots' };
  }
  const match = /^\/api\/snapshots\/([^/]+)(\/revert)?$/.exec(path);
  if (!match) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(match[1]!);
  } catch {
    return { status: 400, message: 'the snapshot name in the path is not valid percent-encoding' };
  }
  if (match[2]) {
    if (method !== 'POST') return { status: 405, message: 'use POST /api/snapshots/NAME/revert' };
    return { line: JSON.stringify({ op: 'snapshot-revert', name, discardChanges: body['discardChanges'] }) };
  }
  if (method !== 'DELETE') return { status: 405, message: 'use DELETE /api/snapshots/NAME' };
  return { line: JSON.stringify({ op: 'snapshot-delete', name }) };
}

/** Puts the snapshot API in front of the viewer: its paths first, everything else to the viewer. */
export function withSnapshotApi(viewer: RequestDelegate, handler: (request: ControlRequest) => Promise<unknown>, token: string | undefined): RequestDelegate {
  const authorizer = createAuthorizer(token);
  return {
    upgrade: (req, socket, head) => viewer.upgrade(req, socket, head),
    handle(req, res) {
      // The one total target parser: `new URL()` throws on targets such as //x:99999/.
      const url = parseRequestTarget(req.url);
      if (!url || (url.pathname !== '/api/reset' && !url.pathname.startsWith('/api/snapshots'))) return viewer.handle(req, res);
      void serve(req, res, url, handler, authorizer).catch((error: Error) => sendError(res, 500, { code: 'internal', message: error.message }));
      return true;
    },
  };
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  handler: (request: ControlRequest) => Promise<unknown>,
  authorizer: ReturnType<typeof createAuthorizer>,
): Promise<void> {
  // Only a cookie or a bearer token here: a ?token= URL belongs to the page (it sets the cookie).
  url.searchParams.delete('token');
  if (!authorizer.check(req, url).ok) return sendError(res, 401, { code: 'config', message: 'the viewer token is missing or wrong' });
  const method = req.method ?? 'GET';
  const changing = method !== 'GET' && method !== 'HEAD';
  if (changing && !sameOrigin(req)) return sendError(res, 403, { code: 'config', message: 'cross-origin request refused' });
  // The route and method first (with an empty body), so that a wrong method is a 405 whatever it sent.
  const route = apiRequest(method, url.pathname, {});
  if (!route) return sendError(res, 404, { code: 'config', message: 'not found' });
  if ('status' in route) return sendError(res, route.status, { code: 'config', message: route.message });
  let body: Record<string, unknown> = {};
  if (changing && method !== 'DELETE') {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return sendError(res, 400, { code: 'config', message: 'send the request body as application/json' });
    }
    const text = await readBody(req);
    if (text === undefined) return sendError(res, 413, { code: 'config', message: `a request body may be at most ${MAX_BODY_BYTES} bytes` });
    try {
      const value: unknown = text.trim() ? JSON.parse(text) : {};
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
      body = value as Record<string, unknown>;
    } catch {
      return sendError(res, 400, { code: 'config', message: 'the request body must be a JSON object' });
    }
  }
  const mapped = apiRequest(method, url.pathname, body);
  if (!mapped || 'status' in mapped) return sendError(res, 500, { code: 'internal', message: 'the route changed with the body' });
  const parsed = parseRequest(mapped.line);
  if ('error' in parsed) return sendError(res, 400, parsed.error);
  try {
    sendJson(res, 200, { result: await handler(parsed.request) });
  } catch (error) {
    const e = errorBody(error);
    sendError(res, e.code === 'config' ? 400 : 500, e);
  }
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Too much: answered at once; the rest is read and dropped (the socket stays usable for the 413).
      if (size > MAX_BODY_BYTES) resolve(undefined);
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, error: ControlErrorBody): void {
  sendJson(res, status, { error });
}
