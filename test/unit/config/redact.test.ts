import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../src/config/redact.js';
import { redactConfig, resolveConfig } from '../../../src/config/resolve.js';

describe('redactUrl', () => {
  it.each([
    ['https://user:pa55@host.test/a/b.iso', 'https://[redacted]@host.test/a/b.iso'],
    ['https://host.test/b.iso?X-Amz-Signature=abc&e=1', 'https://host.test/b.iso?[redacted]'],
    ['http://u@host.test:8080/x.qcow2?t=1#frag', 'http://[redacted]@host.test:8080/x.qcow2?[redacted]#[redacted]'],
    ['https://a:b@c@host.test/', 'https://[redacted]@host.test/'],
    ['https://host.test/plain.iso', 'https://host.test/plain.iso'],
    ['/base/golden.qcow2', '/base/golden.qcow2'],
    ['11', '11'],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});

describe('what `windock config` and the start-up log show', () => {
  it('hides user info and query of BOOT and VERSION, and keeps the rest', () => {
    const shown = redactConfig(
      resolveConfig({ BOOT: 'https://alice:s3cret@dl.test/w.iso?sig=abc123', VERSION: 'https://dl.test/v.iso?token=zzz', WEB_TOKEN: 'a-token-of-twenty-chars' }),
    );
    const text = JSON.stringify(shown);
    expect(shown['boot']).toBe('https://[redacted]@dl.test/w.iso?[redacted]');
    expect(shown['version']).toBe('https://dl.test/v.iso?[redacted]');
    for (const secret of ['alice', 's3cret', 'abc123', 'zzz', 'a-token-of-twenty-chars']) expect(text, text).not.toContain(secret);
  });
});
