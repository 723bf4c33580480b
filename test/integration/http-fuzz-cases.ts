/**
 * The hostile inputs of the HTTP fuzz test (http-fuzz.test.ts), generated from a seeded PRNG:
 * each case is a script of raw TCP steps (test/fixtures/raw-http.ts) and a kind for the tally.
 * Every kind mixes valid and invalid parts, so that inputs reach past the HTTP parser into
 * windock's own handlers: the health server, the viewer's routes and auth, the upgrade checks,
 * the WebSocket layer and, in view-only mode, the RFB filter in front of QEMU's VNC socket.
 */
import type { Prng } from '../fixtures/prng.js';
import { upgradeRequest, webSocketFrame, webSocketKey, type Step } from '../fixtures/raw-http.js';

export const KINDS = ['request-line', 'headers', 'chunked', 'upgrade', 'reset-mid-write', 'websocket-frames', 'rfb-garbage'] as const;
export type Kind = (typeof KINDS)[number];

/** Relative weights: cheap HTTP inputs dominate; WebSocket cases each open a VNC client. */
const WEIGHTS: Readonly<Record<Kind, number>> = {
  'request-line': 24,
  headers: 24,
  chunked: 14,
  upgrade: 14,
  'reset-mid-write': 12,
  'websocket-frames': 7,
  'rfb-garbage': 5,
};

export interface FuzzCase {
  index: number;
  kind: Kind;
  steps: Step[];
  /** The case presented the correct token (a Set-Cookie may then carry it back). */
  withToken: boolean;
  /** Upper bound of the exchange. */
  capMs: number;
}

export interface CaseContext {
  token: string;
  cookieName: string;
}

const PATHS = ['/', '/health', '/health/live', '/health/ready', '/metrics', '/api/status', '/api/events', '/app.js', '/favicon.svg',
  '/novnc/core/rfb.js', '/novnc/%2e%2e/package.json', '/novnc/core/..%2f..%2fpackage.json', '/websockify', '/index.html', '/nothing'];

function pickKind(prng: Prng): Kind {
  const total = KINDS.reduce((sum, k) => sum + WEIGHTS[k], 0);
  let r = prng.int(total);
  for (const kind of KINDS) {
    r -= WEIGHTS[kind];
    if (r < 0) return kind;
  }
  return 'request-line';
}

function latin1(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** Bytes that are hostile inside a request line or a header value. */
function nastyText(prng: Prng): Buffer {
  switch (prng.int(9)) {
    case 0: return prng.bytes(1 + prng.int(64));
    case 1: return Buffer.from('tökén-✓-令牌', 'utf8');
    case 2: return latin1(`%${prng.pick(['', 'z', 'zz', 'e', '00', 'ff', 'c0%af', 'ED%A0%80'])}`);
    case 3: return latin1('\0');
    case 4: return latin1('a'.repeat(prng.pick([100, 4000, 9000, 17000, 70000])));
    case 5: return latin1(prng.pick(['\r', '\n', '\r\n', ' ', '\t', ':', ';', ',', '"', '\\']));
    case 6: return latin1(prng.pick(['//x:99999/', '//[::1/', 'http://x:99999/', '*', 'http://[', '//a:b@c/', '..', '../../etc/passwd']));
    case 7: return latin1(`${prng.int(2 ** 31)}`);
    default: return latin1(prng.pick(PATHS));
  }
}

function target(prng: Prng, ctx: CaseContext): { bytes: Buffer; withToken: boolean } {
  const base = prng.pick(PATHS);
  switch (prng.int(6)) {
    case 0: return { bytes: nastyText(prng), withToken: false };
    case 1: return { bytes: Buffer.concat([latin1(base), nastyText(prng)]), withToken: false };
    case 2: return { bytes: latin1(`${base}?token=${encodeURIComponent(ctx.token)}`), withToken: true };
    case 3: return { bytes: Buffer.concat([latin1(`${base}?token=`), nastyText(prng)]), withToken: false };
    case 4: return { bytes: latin1(`http://${prng.pick(['x', 'x:99999', '[::1]', 'a@b'])}${base}`), withToken: false };
    default: return { bytes: latin1(base), withToken: false };
  }
}

function requestLine(prng: Prng, ctx: CaseContext): { bytes: Buffer; withToken: boolean } {
  const method = prng.bool(0.7)
    ? latin1(prng.pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'CONNECT', 'PRI', 'get', 'G ET', 'GETT']))
    : nastyText(prng);
  const t = target(prng, ctx);
  const version = latin1(prng.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 x', '', 'http/1.1', 'HTTP/1.']));
  const eol = latin1(prng.pick(['\r\n', '\r\n', '\n', '\r', '\r\r\n']));
  return { bytes: Buffer.concat([method, latin1(' '), t.bytes, latin1(' '), version, eol]), withToken: t.withToken };
}

function authHeaders(prng: Prng, ctx: CaseContext): { lines: Buffer[]; withToken: boolean } {
  const lines: Buffer[] = [];
  let withToken = false;
  const n = prng.int(4);
  for (let i = 0; i < n; i++) {
    const right = prng.bool(0.4);
    withToken ||= right;
    const value = right ? latin1(ctx.token) : nastyText(prng);
    switch (prng.int(5)) {
      case 0: lines.push(Buffer.concat([latin1(`Cookie: ${ctx.cookieName}=`), value])); break;
      case 1: lines.push(Buffer.concat([latin1('Cookie: a=1; '), latin1(`${ctx.cookieName}="`), value, latin1('"; b')])); break;
      case 2: lines.push(Buffer.concat([latin1('Authorization: Bearer '), value])); break;
      case 3: lines.push(Buffer.concat([latin1(prng.pick(['Authorization: ', 'Authorization: Basic ', 'Authorization: Bearer', 'Cookie: '])), value])); break;
      default: lines.push(Buffer.concat([latin1(prng.pick(['Origin: ', 'X-Forwarded-Host: ', 'X-Forwarded-Proto: ', 'If-None-Match: ', 'Host: '])), value]));
    }
  }
  return { lines, withToken };
}

function headerBlock(prng: Prng, ctx: CaseContext, extra: Buffer[] = []): { bytes: Buffer; withToken: boolean } {
  const lines: Buffer[] = [];
  if (prng.bool(0.85)) lines.push(latin1('Host: windock.test'));
  if (prng.bool(0.2)) lines.push(latin1('Host: other.test'));
  const auth = authHeaders(prng, ctx);
  lines.push(...auth.lines, ...extra);
  const junk = prng.int(4);
  for (let i = 0; i < junk; i++) {
    switch (prng.int(6)) {
      case 0: lines.push(Buffer.concat([latin1('X-Junk: '), nastyText(prng)])); break;
      case 1: lines.push(Buffer.concat([nastyText(prng), latin1(': v')])); break;
      case 2: lines.push(latin1(`Content-Length: ${prng.pick(['0', '5', '-1', 'abc', '1, 2', '99999999999999999999'])}`)); break;
      case 3: lines.push(latin1(prng.pick(['Expect: 100-continue', 'Expect: nonsense', 'Connection: close', 'Connection: keep-alive, Upgrade', 'Upgrade: h2c']))); break;
      case 4: lines.push(latin1(' folded continuation')); break;
      default: lines.push(latin1(`X-Big: ${'b'.repeat(prng.pick([10, 8000, 20000]))}`));
    }
  }
  if (prng.bool(0.5)) lines.push(latin1('Connection: close'));
  return { bytes: Buffer.concat([...lines.flatMap((l) => [l, latin1('\r\n')]), latin1('\r\n')]), withToken: auth.withToken };
}

function plainRequest(prng: Prng, ctx: CaseContext, method = prng.pick(['GET', 'HEAD', 'POST'])): { bytes: Buffer; withToken: boolean } {
  const t = target(prng, ctx);
  const h = headerBlock(prng, ctx);
  return { bytes: Buffer.concat([latin1(`${method} `), t.bytes, latin1(' HTTP/1.1\r\n'), h.bytes]), withToken: t.withToken || h.withToken };
}

function chunkedRequest(prng: Prng, ctx: CaseContext): { bytes: Buffer; withToken: boolean } {
  const method = prng.pick(['POST', 'PUT', 'GET']);
  const te = prng.pick(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked\r\nContent-Length: 4', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity', 'Transfer-Encoding: xchunked']);
  const h = headerBlock(prng, ctx, [latin1(te)]);
  const chunks: Buffer[] = [];
  const n = 1 + prng.int(4);
  for (let i = 0; i < n; i++) {
    const body = prng.bytes(prng.int(32));
    const size = prng.pick([body.length.toString(16), body.length.toString(16), 'zz', '-1', '', 'ffffffffffffffffff', `${body.length.toString(16)};ext=${'e'.repeat(prng.int(20000))}`, (body.length + 7).toString(16)]);
    chunks.push(latin1(`${size}\r\n`), body, latin1(prng.pick(['\r\n', '\r\n', '', '\n', 'xx'])));
  }
  if (prng.bool(0.6)) chunks.push(latin1(prng.pick(['0\r\n\r\n', '0\r\nTrailer: x\r\n\r\n', '0\r\n'])));
  const path = prng.pick(PATHS);
  return { bytes: Buffer.concat([latin1(`${method} ${path} HTTP/1.1\r\n`), h.bytes, ...chunks]), withToken: h.withToken };
}

function hostileUpgrade(prng: Prng, ctx: CaseContext): { bytes: Buffer; withToken: boolean } {
  const withToken = prng.bool(0.5);
  const headers: string[] = [];
  if (withToken) headers.push(prng.bool() ? `Authorization: Bearer ${ctx.token}` : `Cookie: ${ctx.cookieName}=${ctx.token}`);
  else if (prng.bool()) headers.push(prng.pick(['Authorization: Bearer wrong', `Cookie: ${ctx.cookieName}=nope`, 'Authorization: Basic eA==']));
  if (prng.bool(0.4)) headers.push(`Origin: ${prng.pick(['http://evil.example', 'null', 'http://windock.test', '::', 'http://[', 'file://'])}`);
  if (prng.bool(0.3)) headers.push(`Sec-WebSocket-Protocol: ${prng.pick(['binary', 'binary, base64', ',,,', 'a b', 'chat'])}`);
  if (prng.bool(0.3)) headers.push(`Sec-WebSocket-Extensions: ${prng.pick(['permessage-deflate', 'permessage-deflate; client_max_window_bits=99', ';;;'])}`);
  let text = upgradeRequest(prng.pick(['/websockify', '/websockify', '/', '/health', '//x:99999/websockify', '/websockify?token=x', '*']), webSocketKey(() => prng.bytes(16)), headers);
  switch (prng.int(6)) {
    case 0: text = text.replace(/Sec-WebSocket-Key: [^\r]*\r\n/, ''); break;
    case 1: text = text.replace(/Sec-WebSocket-Key: [^\r]*/, `Sec-WebSocket-Key: ${prng.pick(['short', '!!!!', 'a'.repeat(200), ''])}`); break;
    case 2: text = text.replace('Sec-WebSocket-Version: 13', `Sec-WebSocket-Version: ${prng.pick(['8', '14', 'x', '', '13, 8'])}`); break;
    case 3: text = text.replace('Upgrade: websocket', prng.pick(['Upgrade: h2c', 'Upgrade: WebSocket', 'Upgrade: websocket, foo'])); break;
    default: break;
  }
  return { bytes: latin1(text), withToken };
}

function randomFrame(prng: Prng): Buffer {
  const mask = prng.bool(0.8) ? prng.bytes(4) : undefined;
  const opcode = prng.pick([0, 1, 2, 2, 2, 3, 7, 8, 9, 10, 11, 15]);
  let payload = prng.bytes(prng.pick([0, 1, 2, 10, 125, 126, 200, 4000]));
  if (opcode === 8 && payload.length >= 2 && prng.bool()) payload.writeUInt16BE(prng.pick([0, 999, 1000, 1004, 1005, 1006, 1015, 2999, 3000, 4999, 5000, 65535]), 0);
  const announced = prng.bool(0.1) ? prng.pick([17 * 2 ** 20, 2 ** 40, 2 ** 53 - 1, payload.length + 10]) : undefined;
  return webSocketFrame({ opcode, payload, mask, fin: prng.bool(0.8), rsv: prng.bool(0.1) ? 1 + prng.int(7) : 0, announcedLength: announced });
}

function rfbFrame(prng: Prng, payload: Buffer): Buffer {
  return webSocketFrame({ opcode: 2, payload, mask: prng.bytes(4) });
}

/** A short write at a random cut, then (sometimes after a pause) a TCP reset. */
function cutAndReset(prng: Prng, bytes: Buffer): Step[] {
  const cut = prng.int(bytes.length + 1);
  return [{ write: bytes.subarray(0, cut) }, { pauseMs: prng.pick([0, 0, 1, 5, 20]) }, { reset: true }];
}

const goodUpgrade = (ctx: CaseContext, prng: Prng): string =>
  upgradeRequest('/websockify', webSocketKey(() => prng.bytes(16)), [`Authorization: Bearer ${ctx.token}`, ...(prng.bool() ? ['Origin: http://windock.test'] : [])]);

export function generateCase(index: number, prng: Prng, ctx: CaseContext): FuzzCase {
  const kind = pickKind(prng);
  const http = (steps: Step[], withToken: boolean): FuzzCase => ({ index, kind, steps, withToken, capMs: 600 });
  const ws = (steps: Step[]): FuzzCase => ({ index, kind, steps, withToken: true, capMs: 2_500 });
  const answer: Step[] = [{ waitForText: '\r\n\r\n' }];
  switch (kind) {
    case 'request-line': {
      const line = requestLine(prng, ctx);
      const h = headerBlock(prng, ctx);
      return http([{ write: Buffer.concat([line.bytes, h.bytes]) }, ...answer], line.withToken || h.withToken);
    }
    case 'headers': {
      const first = plainRequest(prng, ctx);
      // Sometimes pipelined: a second request right behind the first on the same connection.
      const second = prng.bool(0.2) ? plainRequest(prng, ctx) : undefined;
      return http([{ write: Buffer.concat([first.bytes, second?.bytes ?? Buffer.alloc(0)]) }, ...answer], first.withToken || Boolean(second?.withToken));
    }
    case 'chunked': {
      const r = chunkedRequest(prng, ctx);
      return http([{ write: r.bytes }, ...answer], r.withToken);
    }
    case 'upgrade': {
      const r = hostileUpgrade(prng, ctx);
      const after: Step[] = prng.bool(0.4) ? [{ waitFor: 1 }, { reset: true }] : prng.bool(0.3) ? [{ reset: true }] : answer;
      return http([{ write: r.bytes }, ...after], r.withToken);
    }
    case 'reset-mid-write': {
      const r = prng.bool(0.3) ? hostileUpgrade(prng, ctx) : prng.bool(0.3) ? chunkedRequest(prng, ctx) : plainRequest(prng, ctx);
      return http(cutAndReset(prng, r.bytes), r.withToken);
    }
    case 'websocket-frames': {
      const frames = Buffer.concat(Array.from({ length: 1 + prng.int(5) }, () => randomFrame(prng)));
      const tail: Step[] = prng.bool(0.3) ? cutAndReset(prng, frames) : [{ write: frames }, { pauseMs: prng.int(150) }, prng.bool() ? { end: true } : { reset: true }];
      return ws([{ write: goodUpgrade(ctx, prng) }, ...answer, ...tail]);
    }
    case 'rfb-garbage': {
      // A good RFB 3.8 client handshake (version, security None, shared flag), then garbage;
      // half of it starts with a known client message type so that the filter parses deeper.
      const known = [0, 2, 3, 4, 5, 6, 150, 248, 251, 255];
      const garbage = Array.from({ length: 1 + prng.int(6) }, () => {
        const body = prng.bytes(1 + prng.int(64));
        if (prng.bool()) body[0] = prng.pick(known);
        return rfbFrame(prng, body);
      });
      const handshake = [rfbFrame(prng, latin1('RFB 003.008\n')), rfbFrame(prng, Buffer.from([1])), rfbFrame(prng, Buffer.from([1]))];
      return ws([{ write: goodUpgrade(ctx, prng) }, ...answer, { write: Buffer.concat(handshake) }, { pauseMs: 20 }, { write: Buffer.concat(garbage) }, { pauseMs: prng.int(200) }, prng.bool() ? { end: true } : { reset: true }]);
    }
  }
}
