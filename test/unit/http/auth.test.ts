import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  bearerToken,
  createAuthorizer,
  decodeCookieValue,
  parseCookies,
  resolveWebToken,
  tokenCookieName,
  tokensEqual,
} from '../../../src/http/auth.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { RunContext } from '../../../src/supervisor/context.js';
import { createLogger } from '../../../src/core/log.js';
import { StateFile } from '../../../src/state/state-file.js';
import { StatusStore } from '../../../src/supervisor/status.js';

function request(headers: Record<string, string>): IncomingMessage {
  return { headers, socket: {} } as unknown as IncomingMessage;
}

describe('token checks', () => {
  it('compares tokens of any length without throwing', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('', 'abc')).toBe(false);
    expect(tokensEqual('abc'.repeat(100), 'abc')).toBe(false);
  });

  it('parses cookies and bearer headers', () => {
    expect(parseCookies('a=1; windock_token_0a=xyz; b="q"').get('windock_token_0a')).toBe('xyz');
    expect(tokenCookieName('s3cret')).toMatch(/^windock_token_[0-9a-f]{8}$/);
    expect(tokenCookieName('other')).not.toBe(tokenCookieName('s3cret'));
    expect(parseCookies('a=1; b="q"').get('b')).toBe('q');
    expect(parseCookies(undefined).size).toBe(0);
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
  });

  it('accepts a cookie, a bearer header or a query token and refuses the rest', () => {
    const auth = createAuthorizer('s3cret');
    const name = tokenCookieName('s3cret');
    const url = (q = '') => new URL(`http://h/${q}`);
    expect(auth.check(request({ cookie: `${name}=s3cret` }), url())).toEqual({ ok: true });
    expect(auth.check(request({ authorization: 'Bearer s3cret' }), url())).toEqual({ ok: true });
    const viaQuery = auth.check(request({}), url('?token=s3cret'));
    expect(viaQuery.ok).toBe(true);
    expect('setCookie' in viaQuery && viaQuery.setCookie).toMatch(/^windock_token_[0-9a-f]{8}=s3cret; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    const viaProxy = auth.check(request({ 'x-forwarded-proto': 'https' }), url('?token=s3cret'));
    expect('setCookie' in viaProxy && viaProxy.setCookie).toMatch(/; Secure$/);
    expect(auth.check(request({ cookie: `${name}=wrong` }), url('?token=nope')).ok).toBe(false);
    expect(auth.check(request({}), url()).ok).toBe(false);
  });

  it('sets a cookie that is a valid header for a token outside Latin-1 and accepts it back', async () => {
    const { validateHeaderValue } = await import('node:http');
    const token = 'tökén ✓ 令牌; "x"';
    const auth = createAuthorizer(token);
    const login = auth.check(request({}), new URL(`http://h/?token=${encodeURIComponent(token)}`));
    if (!('setCookie' in login)) throw new Error(`no cookie set: ${JSON.stringify(login)}`);
    // writeHead throws ERR_INVALID_CHAR on what this refuses.
    expect(() => validateHeaderValue('Set-Cookie', login.setCookie)).not.toThrow();
    expect(login.setCookie).toMatch(/^windock_token_[0-9a-f]{8}=[!#-+\--:<-[\]-~]+; Path=\//);
    const cookie = login.setCookie.split(';')[0]!;
    expect(auth.check(request({ cookie }), new URL('http://h/'))).toEqual({ ok: true });
    expect(decodeCookieValue('%E0%A4%A')).toBe('%E0%A4%A');
  });

  it('lets everything through when WEB_AUTH=N', () => {
    expect(createAuthorizer(undefined).check(request({}), new URL('http://h/')).ok).toBe(true);
  });
});

describe('resolveWebToken', () => {
  let dir: string;
  let lines: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'windock-auth-'));
    lines = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function context(env: Record<string, string>): RunContext {
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    return {
      config: resolveConfig({ STORAGE: dir, WEB_PORT: '8123', ...env }),
      log: createLogger({ level: 'info', pretty: false, destination }),
      status: new StatusStore(),
      state: new StateFile(dir),
      signal: new AbortController().signal,
    };
  }

  it('generates a token once, persists it and prints it in exactly one line', async () => {
    const first = await resolveWebToken(context({}));
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const persisted = JSON.parse(await readFile(join(dir, 'windock.json'), 'utf8')) as { webToken: string };
    expect(persisted.webToken).toBe(first);
    const second = await resolveWebToken(context({}));
    expect(second).toBe(first);
    const withToken = lines.filter((l) => l.includes(first!));
    expect(withToken).toHaveLength(1);
    expect((JSON.parse(withToken[0]!) as { msg: string }).msg).toContain(`http://localhost:8123/?token=${first}`);
    expect(lines).toHaveLength(2);
  });

  it('uses WEB_TOKEN as given without printing or persisting it', async () => {
    expect(await resolveWebToken(context({ WEB_TOKEN: 'mine-own-viewer-token' }))).toBe('mine-own-viewer-token');
    expect(lines.some((l) => l.includes('mine-own-viewer-token'))).toBe(false);
    await expect(readFile(join(dir, 'windock.json'))).rejects.toThrow(/ENOENT/);
  });

  it('returns undefined with WEB_AUTH=N and warns', async () => {
    expect(await resolveWebToken(context({ WEB_AUTH: 'N' }))).toBeUndefined();
    expect(lines.join('\n')).toMatch(/authentication is off/);
  });
});
