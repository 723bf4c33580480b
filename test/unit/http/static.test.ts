import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { etagOf, safeRelativePath } from '../../../src/http/static.js';
import { routeOf, sameOrigin, statusBody } from '../../../src/http/viewer.js';
import { StatusStore } from '../../../src/supervisor/status.js';

describe('safeRelativePath', () => {
  it('accepts plain paths to known file types', () => {
    expect(safeRelativePath('core/rfb.js')).toBe('core/rfb.js');
    expect(safeRelativePath('vendor/pako/lib/zlib/inflate.js')).toBe('vendor/pako/lib/zlib/inflate.js');
    expect(safeRelativePath('core//util/%62rowser.js')).toBe('core/util/browser.js');
  });

  it.each([
    ['../package.json'],
    ['core/../../etc/passwd.js'],
    ['%2e%2e/%2e%2e/etc/x.js'],
    ['core/%2e%2e%2fsecret.js'],
    ['..%5c..%5cx.js'],
    ['core\\..\\x.js'],
    ['core/rfb.js%00.html'],
    ['.git/config.js'],
    ['core/.hidden.js'],
    ['%E0%A4%A.js'],
    ['core/rfb.ts'],
    ['core/'],
    [''],
  ])('refuses %j', (path) => {
    expect(safeRelativePath(path)).toBeUndefined();
  });

  it('makes weak ETags from size and mtime', () => {
    expect(etagOf(255, 1000.7)).toBe('W/"ff-3e8"');
  });
});

describe('viewer routes', () => {
  it('routes only known paths', () => {
    expect(routeOf('/')).toBe('page');
    expect(routeOf('/index.html')).toBe('page');
    expect(routeOf('/app.js')).toBe('web');
    expect(routeOf('/novnc/core/rfb.js')).toBe('novnc');
    expect(routeOf('/metrics')).toBe('metrics');
    expect(routeOf('/api/status')).toBe('status');
    expect(routeOf('/api/events')).toBe('events');
    expect(routeOf('/health')).toBeUndefined();
    expect(routeOf('/index.js')).toBeUndefined();
    expect(routeOf('/web/app.js')).toBeUndefined();
  });

  it('compares Origin with Host and X-Forwarded-Host', () => {
    const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
    expect(sameOrigin(req({ host: 'h:8006' }))).toBe(true);
    expect(sameOrigin(req({ host: 'h:8006', origin: 'http://h:8006' }))).toBe(true);
    expect(sameOrigin(req({ host: 'H:8006', origin: 'https://h:8006' }))).toBe(true);
    expect(sameOrigin(req({ host: 'h:8006', origin: 'http://evil.example' }))).toBe(false);
    expect(sameOrigin(req({ host: 'internal:8006', origin: 'https://vm.example.org', 'x-forwarded-host': 'vm.example.org' }))).toBe(true);
    expect(sameOrigin(req({ host: 'h:8006', origin: 'null' }))).toBe(false);
  });

  it('shows the page what it needs and no process ids', () => {
    const status = new StatusStore();
    status.update({ phase: 'starting' });
    status.update({ phase: 'running', qemuPid: 4242, guestState: 'running' });
    const body = statusBody(status.snapshot, true);
    expect(body).toMatchObject({ phase: 'running', qemuRunning: true, viewOnly: true, guestState: 'running', download: null });
    expect(JSON.stringify(body)).not.toContain('4242');
  });
});
