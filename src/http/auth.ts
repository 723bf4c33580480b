/**
 * Access control of the viewer: one shared token. The token comes from WEB_TOKEN, or is generated
 * at first start and kept in STORAGE/windock.json; WEB_AUTH=N turns the check off for users behind
 * their own authenticating proxy. A browser presents it once as `?token=` and from then on by an
 * HttpOnly SameSite=Strict cookie (so the WebSocket and the assets authenticate without it in the
 * URL); scripts may send `Authorization: Bearer` (RFC 6750 §2.1).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RunContext } from '../supervisor/context.js';

/**
 * Cookies are scoped by host, not by port (RFC 6265 §8.5): two windock instances on one host
 * would overwrite each other's cookie under one name. The name carries a short digest of the
 * token instead (32 bits of a SHA-256: it reveals nothing usable about a 256-bit token).
 */
export function tokenCookieName(token: string): string {
  return `windock_token_${createHash('sha256').update(`windock-cookie:${token}`).digest('hex').slice(0, 8)}`;
}
/** 32 random bytes: 256 bits, as base64url (43 characters, safe in URLs and cookies). */
const TOKEN_BYTES = 32;
const COOKIE_MAX_AGE_SECONDS = 30 * 24 * 3600;

/**
 * The viewer token, or undefined when WEB_AUTH=N. A generated token is printed once, in the one
 * log line that announces it, as a ready-to-open URL: pino redacts fields named `token`, so the
 * URL is deliberately in the message text of that single line and nowhere else. Later starts
 * only say where the token is kept.
 */
export async function resolveWebToken(ctx: RunContext): Promise<string | undefined> {
  const { config, log } = ctx;
  if (!config.webAuth) {
    log.warn({ component: 'viewer' }, 'viewer authentication is off (WEB_AUTH=N): put an authenticating proxy in front of WEB_PORT');
    return undefined;
  }
  if (config.webToken !== undefined) return config.webToken;
  const state = await ctx.state.read();
  if (typeof state.webToken === 'string' && state.webToken.length > 0) {
    log.info({ component: 'viewer', file: ctx.state.path }, 'viewer token loaded (its value is the webToken field of the state file)');
    return state.webToken;
  }
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  await ctx.state.update((s) => {
    s.webToken = token;
  });
  log.info(
    { component: 'viewer', file: ctx.state.path },
    `viewer token generated; open http://localhost:${config.webPort}/?token=${token} (replace localhost:${config.webPort} with the host and port published for WEB_PORT)`,
  );
  return token;
}

/**
 * Constant-time comparison: both sides are hashed first so that the compared buffers always have
 * the same length (timingSafeEqual requires it) and the token's length does not leak either.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** RFC 6265 §4.2.1 Cookie header → name/value pairs (the first occurrence of a name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer[ ]+([^\s]+)\s*$/i.exec(header) : null;
  return match?.[1];
}

export type AuthResult =
  /** No token configured, or a valid cookie or bearer token. */
  | { ok: true }
  /** A valid `?token=`: the caller sets the cookie (`setCookie`) and redirects to drop it from the URL. */
  | { ok: true; setCookie: string }
  | { ok: false };

export interface Authorizer {
  /** `url` is the request's parsed URL (its `token` query parameter is read here). */
  check(req: IncomingMessage, url: URL): AuthResult;
}

/** Builds the request check for one token (undefined: WEB_AUTH=N, everything passes). */
export function createAuthorizer(token: string | undefined): Authorizer {
  const cookieName = token === undefined ? undefined : tokenCookieName(token);
  return {
    check(req, url) {
      if (token === undefined) return { ok: true };
      const fromCookie = parseCookies(req.headers.cookie).get(cookieName!);
      if (fromCookie !== undefined && tokensEqual(decodeCookieValue(fromCookie), token)) return { ok: true };
      const fromHeader = bearerToken(req.headers.authorization);
      if (fromHeader !== undefined && tokensEqual(fromHeader, token)) return { ok: true };
      const fromQuery = url.searchParams.get('token');
      if (fromQuery !== null && tokensEqual(fromQuery, token)) return { ok: true, setCookie: tokenCookie(token, isHttps(req)) };
      return { ok: false };
    },
  };
}

/**
 * HttpOnly: page scripts never see it. SameSite=Strict: a cross-site page cannot make the browser
 * send it, which also shuts out cross-site WebSocket hijacking. Secure only behind HTTPS (a
 * reverse proxy saying so), or the browser would drop it on plain http://host:8006.
 */
export function tokenCookie(token: string, secure: boolean): string {
  return `${tokenCookieName(token)}=${encodeCookieValue(token)}; Path=/; Max-Age=${COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/**
 * The token as a cookie-octet string (RFC 6265 §4.1.1): percent-encoded, so that a token with a
 * space, a `;` or a character outside Latin-1 neither breaks the header nor makes writeHead throw
 * (ERR_INVALID_CHAR). A URL-safe token, the generated one included, is left as it is.
 */
export function encodeCookieValue(value: string): string {
  return encodeURIComponent(value);
}

/** The inverse of encodeCookieValue; a value that is not valid percent-encoding is taken as is. */
export function decodeCookieValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function isHttps(req: IncomingMessage): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = Array.isArray(forwarded) ? forwarded[0] : forwarded;
  return proto?.split(',')[0]?.trim().toLowerCase() === 'https' || Boolean((req.socket as { encrypted?: boolean }).encrypted);
}
