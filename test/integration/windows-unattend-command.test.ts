/**
 * `windock unattend` through the real binary: the answer file on stdout (parsed back as XML in
 * the unattend namespace), passwords and KEY written as Windows' redaction marker unless
 * --show-secrets, exit 2 naming VERSION when windock has no answer file for it, STORAGE untouched.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeUnattendPassword } from '../../src/windows/unattend.js';
import { CLI } from '../fixtures/windock.js';
import { commandsOf, comp, kids, parse, pass, text } from '../unit/windows/xml-dom.js';
import { makeTempDirs } from './storage-helpers.js';

const run = promisify(execFile);
const temp = makeTempDirs();
afterEach(() => temp.cleanup());

async function unattend(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'unattend', ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const SECRET = 'Tr1cky&<Secret>';
const KEY = 'ABCDE-12345-FGHIJ-67890-KLMNO';

describe('windock unattend', () => {
  it('prints the answer file with the password and KEY redacted; --show-secrets prints them as the answer file holds them', async () => {
    const storage = join(temp.make(), 'storage');
    const env = { STORAGE: storage, VERSION: 'win11', PASSWORD: SECRET, KEY };
    const redacted = await unattend(env);
    expect(redacted.code, redacted.stderr).toBe(0);
    const root = parse(redacted.stdout);
    expect([root.localName, root.namespaceURI]).toEqual(['unattend', 'urn:schemas-microsoft-com:unattend']);
    const shell = comp(pass(root, 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    expect(text(shell, 'UserAccounts', 'AdministratorPassword', 'Value')).toBe('*SENSITIVE*DATA*DELETED*');
    expect(text(comp(pass(root, 'windowsPE'), 'Microsoft-Windows-Setup'), 'UserData', 'ProductKey', 'Key')).toBe('*SENSITIVE*DATA*DELETED*');
    for (const leak of [SECRET, KEY, encodeUnattendPassword(SECRET, 'Password'), encodeUnattendPassword(SECRET, 'AdministratorPassword')]) {
      expect(redacted.stdout.includes(leak), `leaked ${leak}`).toBe(false);
    }
    expect(existsSync(storage), 'STORAGE created by a command that only prints').toBe(false);

    const shown = await unattend(env, ['--show-secrets']);
    expect(shown.code, shown.stderr).toBe(0);
    const shownShell = comp(pass(parse(shown.stdout), 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    expect(text(shownShell, 'UserAccounts', 'AdministratorPassword', 'Value')).toBe(encodeUnattendPassword(SECRET, 'AdministratorPassword'));
    expect(shown.stdout).toContain(KEY);
  });

  it.each([
    [{ RAM_SIZE: '4G' }, []],
    [{ RAM_SIZE: '4G', BOOT_MODE: 'uefi' }, ['BypassTPMCheck', 'AllowUpgradesWithUnsupportedTPMOrCPU', 'BypassSecureBootCheck']],
    [{ RAM_SIZE: '2G', BOOT_MODE: 'uefi' }, ['BypassTPMCheck', 'AllowUpgradesWithUnsupportedTPMOrCPU', 'BypassSecureBootCheck', 'BypassRAMCheck']],
  ])('VERSION=11 with %o: Setup\'s checks bypassed for exactly %o', async (settings, want) => {
    const result = await unattend({ STORAGE: join(temp.make(), 'storage'), VERSION: '11', ...settings });
    expect(result.code, result.stderr).toBe(0);
    const setup = comp(pass(parse(result.stdout), 'windowsPE'), 'Microsoft-Windows-Setup');
    const paths = kids(setup, 'RunSynchronous').flatMap((r) => commandsOf(r, 'RunSynchronousCommand', 'Path'));
    expect(paths.map((p) => /\/v (\w+)/.exec(p ?? '')?.[1]), result.stdout).toEqual(want);
  });

  it.each([['xp'], ['95']])('VERSION=%s has no answer file: exit 2 naming it', async (version) => {
    const result = await unattend({ VERSION: version });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
    expect(result.stderr).toContain(`VERSION="${version}"`);
  });

  it('an invalid setting exits 2 before anything is printed', async () => {
    const result = await unattend({ VERSION: '11', DOMAIN: 'https://corp.example' });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/DOMAIN must be a DNS domain name/);
  });
});
