import { describe, expect, it } from 'vitest';
import { parseRequestTarget } from '../../../src/http/request-target.js';

describe('parseRequestTarget', () => {
  it('reads origin-form targets as path and query, a leading // included', () => {
    expect(parseRequestTarget('/health')?.pathname).toBe('/health');
    expect(parseRequestTarget('/?token=a%20b')?.searchParams.get('token')).toBe('a b');
    expect(parseRequestTarget(undefined)?.pathname).toBe('/');
    // new URL('//x:99999/', base) throws (an authority with an invalid port): here it is a path.
    expect(parseRequestTarget('//x:99999/')?.pathname).toBe('//x:99999/');
    expect(parseRequestTarget('//[::1/')?.pathname).toBe('//[::1/');
    expect(parseRequestTarget('//user:pw@evil.example/websockify')?.pathname).toBe('//user:pw@evil.example/websockify');
    // Dot segments, percent-encoded ones too, are resolved (WHATWG URL), as before.
    expect(parseRequestTarget('/novnc/%2e%2e/x')?.pathname).toBe('/x');
  });

  it('keeps only path and query of an absolute-form target', () => {
    const url = parseRequestTarget('http://other.example:8080/api/status?token=t');
    expect(url?.host).toBe('request.invalid');
    expect(url?.pathname).toBe('/api/status');
    expect(url?.searchParams.get('token')).toBe('t');
  });

  it('answers undefined, never throws, for what is no resource target', () => {
    for (const target of ['*', 'example.com:443', 'http://x:99999/', 'http://[::1/', 'ftp://x/', '', 'health', 'http://', '\u0000']) {
      expect(parseRequestTarget(target), JSON.stringify(target)).toBeUndefined();
    }
  });
});
