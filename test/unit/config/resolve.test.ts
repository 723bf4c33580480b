import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { OPTIONS, type Option } from '../../../src/config/options.js';
import { redactConfig, resolveConfig } from '../../../src/config/resolve.js';
import { checkWindowsSettings } from '../../../src/windows/windows-profile.js';
import { parseCommandLine } from '../../../src/config/command-line.js';

describe('resolveConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = resolveConfig({});
    expect(config).toMatchObject({
      version: '11',
      storage: '/storage',
      runDir: '/run/windock',
      ramSize: 4 * 2 ** 30,
      cpuCores: 2,
      diskSize: 64 * 2 ** 30,
      diskFmt: 'qcow2',
      kvm: true,
      network: 'tap',
      webPort: 8006,
      shutdownTimeout: 110,
      arguments: [],
      debug: false,
    });
    expect(config.boot).toBeUndefined();
    expect(config.bootMode).toBeUndefined();
  });

  it('lets flags win over the environment', () => {
    expect(resolveConfig({ RAM_SIZE: '8G' }, { 'ram-size': '2G' }).ramSize).toBe(2 * 2 ** 30);
  });

  it('treats an empty variable as unset', () => {
    const config = resolveConfig({ RAM_SIZE: '', BOOT: '' });
    expect(config.ramSize).toBe(4 * 2 ** 30);
    expect(config.boot).toBeUndefined();
  });

  it('reports every invalid setting at once', () => {
    let error: unknown;
    try {
      resolveConfig({ RAM_SIZE: 'lots', CPU_CORES: '0', DISK_FMT: 'zip' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).exitCode).toBe(2);
    expect((error as AppError).message).toBe(
      'RAM_SIZE must be a size such as "512M" or "4G", a number of GB such as "8", "half" or "max", got "lots"; CPU_CORES must be a whole number of cores from 1 to 1024, "half" or "max", got "0"; DISK_FMT must be one of "qcow2", "raw", got "zip"',
    );
  });

  it('reads CONNECTIONS as dockur does (default 4) and refuses what is not 1..16', () => {
    expect(resolveConfig({}).connections).toBe(4);
    expect(resolveConfig({ CONNECTIONS: '1' }).connections).toBe(1);
    expect(resolveConfig({ CONNECTIONS: '16' }).connections).toBe(16);
    for (const bad of ['0', '17', 'many', '2.5']) {
      let error: unknown;
      try {
        resolveConfig({ CONNECTIONS: bad });
      } catch (e) {
        error = e;
      }
      expect((error as AppError).exitCode, `CONNECTIONS=${bad}`).toBe(2);
      expect((error as AppError).message).toBe(`CONNECTIONS must be a whole number of connections from 1 to 16, got "${bad}"`);
    }
  });

  it('redacts secrets in what `windock config` prints', () => {
    const shown = redactConfig(resolveConfig({ WEB_TOKEN: 'hunter2-hunter2-hunter2' }));
    expect(shown['webToken']).toBe('[redacted]');
    expect(JSON.stringify(shown)).not.toContain('hunter2');
  });
});

describe('the option table', () => {
  const rows = Object.values(OPTIONS) as Option<unknown>[];
  it('gives every row a distinct environment name and kebab-case flag, and a doc', () => {
    expect(new Set(rows.map((r) => r.env)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.flag)).size).toBe(rows.length);
    for (const row of rows) {
      expect(row.env).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(row.flag).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(row.doc.length).toBeGreaterThan(5);
      expect(row.defaultText.length).toBeGreaterThan(0);
    }
  });
  it('parses every default text back to the default value', () => {
    for (const row of rows) {
      if (row.default === undefined || /[()]/.test(row.defaultText)) continue;
      expect(row.parse(row.defaultText, row.env)).toEqual(row.default);
    }
  });
});

describe('parseCommandLine', () => {
  it('defaults to run', () => expect(parseCommandLine([], '1.0.0')).toMatchObject({ kind: 'command', command: 'run', flags: {} }));
  it('reads flags as raw text for the option parsers', () => {
    expect(parseCommandLine(['run', '--ram-size', '2G', '--kvm=N'], '1.0.0')).toMatchObject({ command: 'run', flags: { 'ram-size': '2G', kvm: 'N' } });
  });
  it('reads the health URL', () => {
    expect(parseCommandLine(['health', '--url', 'http://x/health'], '1.0.0')).toMatchObject({ command: 'health', healthUrl: 'http://x/health' });
  });
  it('documents every option with its variable and default in --help', () => {
    const help = parseCommandLine(['--help'], '1.0.0');
    expect(help).toMatchObject({ kind: 'exit', exitCode: 0 });
    const text = help.kind === 'exit' ? help.output : '';
    for (const row of Object.values(OPTIONS) as Option<unknown>[]) {
      expect(text).toContain(`--${row.flag}`);
      // dockur's name beside windock's where they differ (TIMEOUT for SHUTDOWN_TIMEOUT).
      expect(text).toContain(row.dockur ? `[${row.env}; dockur: ${row.dockur}]` : `[${row.env}]`);
    }
    expect(text).toContain('[SHUTDOWN_TIMEOUT; dockur: TIMEOUT]');
  });
  it('refuses an unknown flag with exit 2', () => {
    expect(parseCommandLine(['--rams', '4G'], '1.0.0')).toMatchObject({ kind: 'exit', exitCode: 2 });
  });
});

describe('checks across settings', () => {
  it('leaves the Windows checks to the profile the caller passes', () => {
    expect(resolveConfig({ VERSION: '12' }).version).toBe('12');
  });
  it('refuses an unknown VERSION when there is no BOOT, with exit 2', () => {
    expect(() => resolveConfig({ VERSION: '12' }, {}, { guestChecks: checkWindowsSettings })).toThrow(/^VERSION must be a Windows version key or the URL of an ISO, got "12"$/);
  });
  it('accepts any VERSION when BOOT wins over it, and a URL in VERSION', () => {
    expect(resolveConfig({ VERSION: '12', BOOT: '/base/golden.qcow2' }, {}, { guestChecks: checkWindowsSettings }).version).toBe('12');
    expect(resolveConfig({ VERSION: 'https://example.test/x.iso' }, {}, { guestChecks: checkWindowsSettings }).version).toBe('https://example.test/x.iso');
  });
  it('refuses a USERNAME Windows would reject before anything is touched', () => {
    let error: unknown;
    try {
      resolveConfig({ USERNAME: 'a/b' }, {}, { guestChecks: checkWindowsSettings });
    } catch (e) {
      error = e;
    }
    expect((error as AppError).exitCode).toBe(2);
    expect((error as AppError).message).toMatch(/^USERNAME must be a Windows user name/);
  });
});

/** The AppError `resolveConfig` throws for these settings (fails the test when none is thrown). */
function refusal(env: Record<string, string>): AppError {
  try {
    resolveConfig(env);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error(`resolveConfig accepted ${JSON.stringify(env)}`);
}

describe('WEB_TOKEN', () => {
  it('accepts 16 or more URL- and cookie-safe characters', () => {
    expect(resolveConfig({ WEB_TOKEN: 'Abc.def_ghi~jkl-0' }).webToken).toBe('Abc.def_ghi~jkl-0');
  });
  it.each([
    ['short-token', /^WEB_TOKEN must be at least 16 characters from A-Z a-z 0-9 \. _ ~ -, got 11 characters$/],
    ['sixteen chars ok', /got whitespace at character 8$/],
    ['sixteen;chars-ok', /got punctuation other than \. _ ~ - at character 8$/],
    ['sixteen\u00e9chars-ok', /got a non-ASCII character at character 8$/],
    ['sixteen\u0001chars-ok', /got a control character at character 8$/],
  ])('refuses %j with exit 2 without echoing it', (token, message) => {
    const error = refusal({ WEB_TOKEN: token });
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(message);
    expect(error.message + JSON.stringify(error.details)).not.toContain(token);
  });
});

describe('late checks made early', () => {
  it('refuses USER_PORTS that include WEB_PORT with NETWORK=user', () => {
    const error = refusal({ NETWORK: 'user', USER_PORTS: '8000-8010', WEB_PORT: '8006' });
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe("USER_PORTS must not include WEB_PORT 8006: that port is windock's own, got 8000-8010");
  });
  it('refuses WEB_PORT 3389 with NETWORK=user (RDP is forwarded there)', () => {
    expect(refusal({ NETWORK: 'user', WEB_PORT: '3389' }).message).toMatch(/^WEB_PORT must not be 3389 with NETWORK=user/);
  });
  it('leaves USER_PORTS alone with NETWORK=tap, where it is not used', () => {
    expect(resolveConfig({ NETWORK: 'tap', USER_PORTS: '8006' }).userPorts).toEqual([{ from: 8006, to: 8006, protocol: 'both' }]);
  });
  it('refuses a json: BOOT, even with BOOT_TRUST=Y', () => {
    const settings: Record<string, string>[] = [{ BOOT: 'json:{"driver":"file","filename":"/etc/shadow"}' }, { BOOT: 'json:{}', BOOT_TRUST: 'Y' }];
    for (const env of settings) {
      const error = refusal(env);
      expect(error.exitCode).toBe(2);
      expect(error.message).toBe('BOOT must be the path or URL of an image file, got a QEMU "json:" block description');
    }
  });
});
