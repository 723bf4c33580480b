/**
 * The answer file of every catalog entry windock installs hands-off, built as the run builds it
 * (answerFileInput → buildAnswerFile) and read back through the DOM: well-formed XML in the
 * unattend namespace, every component named as Microsoft's Unattended Setup reference names it,
 * for the entry's architecture and in a pass it belongs to, and the settings issue 12 asks for.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/resolve.js';
import { answerFileInput, targetDiskNumber } from '../../../src/windows/answer-input.js';
import { CATALOG, installsHandsOff } from '../../../src/windows/catalog.js';
import { buildAnswerFile } from '../../../src/windows/unattend.js';
import { commandsOf, comp, kids, parse, pass, path, text, type El } from './xml-dom.js';

/** Components per pass, as the Unattended Windows Setup Reference lists where each may appear. */
const VALID: Record<string, readonly string[]> = {
  windowsPE: ['Microsoft-Windows-International-Core-WinPE', 'Microsoft-Windows-Setup'],
  specialize: [
    'Microsoft-Windows-Shell-Setup', 'Microsoft-Windows-TerminalServices-LocalSessionManager', 'Networking-MPSSVC-Svc',
    'Microsoft-Windows-UnattendedJoin', 'Microsoft-Windows-ServerManager-SvrMgrNc', 'Microsoft-Windows-OutOfBoxExperience',
    'Microsoft-Windows-Deployment',
  ],
  oobeSystem: ['Microsoft-Windows-International-Core', 'Microsoft-Windows-SecureStartup-FilterDriver', 'Microsoft-Windows-Shell-Setup'],
};

const system = (bus: 'scsi' | 'sata') => [{ id: 'system', path: 'd', format: 'qcow2', media: 'disk', bus, readOnly: false, bootIndex: 1 } as const];

function answerFor(key: string, env: Record<string, string> = {}, bus: 'scsi' | 'sata' = 'scsi') {
  const entry = CATALOG.find((e) => e.key === key)!;
  const config = resolveConfig({ VERSION: key, PASSWORD: 'Pa55word!', ...env });
  const { input } = answerFileInput(config, { entry, firmware: entry.bootMode, drives: system(bus), systemBus: bus, tpm: entry.bootMode === 'secure', oem: false });
  const xml = buildAnswerFile(input);
  return { entry, xml, root: parse(xml) };
}

const allCommands = (root: El) => [
  ...commandsOf(path(comp(pass(root, 'specialize'), 'Microsoft-Windows-Deployment'), 'RunSynchronous'), 'RunSynchronousCommand', 'Path'),
  ...commandsOf(path(comp(pass(root, 'oobeSystem'), 'Microsoft-Windows-Shell-Setup'), 'FirstLogonCommands'), 'SynchronousCommand', 'CommandLine'),
];

const handsOff = CATALOG.filter(installsHandsOff).map((e) => e.key);

describe('the answer file of every hands-off catalog entry', () => {
  it('covers every entry with an xml install', () => {
    expect(handsOff.length).toBe(CATALOG.filter((e) => e.install === 'xml').length);
    expect(handsOff).toEqual(expect.arrayContaining(['11', '10', '8e', '7u', 'vux86', '2008', '2012', 'hv', 'tiny11', 'core11']));
  });

  it.each(handsOff)('VERSION=%s: namespace, component names and architecture, the issue-12 settings', (key) => {
    const { entry, root } = answerFor(key);
    expect([root.localName, root.namespaceURI]).toEqual(['unattend', 'urn:schemas-microsoft-com:unattend']);
    for (const settings of kids(root, 'settings')) {
      const passName = settings.getAttribute('pass')!;
      for (const c of kids(settings, 'component')) {
        expect({ pass: passName, name: c.getAttribute('name'), arch: c.getAttribute('processorArchitecture') }).toEqual({
          pass: passName,
          name: expect.toBeOneOf([...(VALID[passName] ?? [])]),
          arch: entry.arch,
        });
        expect(c.getAttribute('publicKeyToken')).toBe('31bf3856ad364e35');
      }
    }
    const setup = comp(pass(root, 'windowsPE'), 'Microsoft-Windows-Setup');
    expect([text(setup, 'DynamicUpdate', 'Enable'), text(setup, 'DynamicUpdate', 'WillShowUI')]).toEqual(['false', 'Never']);
    // Virtio disk, setup image on USB: the stick is disk 0, Windows goes to disk 1.
    expect([text(setup, 'DiskConfiguration', 'Disk', 'DiskID'), text(setup, 'ImageInstall', 'OSImage', 'InstallTo', 'DiskID')]).toEqual(['1', '1']);

    const sp = pass(root, 'specialize');
    expect(text(comp(sp, 'Microsoft-Windows-TerminalServices-LocalSessionManager'), 'fDenyTSConnections')).toBe('false');
    expect(text(comp(sp, 'Networking-MPSSVC-Svc'), 'FirewallGroups', 'FirewallGroup', 'Active')).toBe('true');
    const commands = allCommands(root).join('\n');
    expect(commands).toContain('NetworkList\\Signatures\\FirstNetwork" /v Category /t REG_DWORD /d 1');
    expect(commands).toContain('BitLocker" /v PreventDeviceEncryption /t REG_DWORD /d 1');
    expect(commands).toContain('net accounts /maxpwage:unlimited');
    expect(commands).toContain('powercfg /change monitor-timeout-ac 0');
    expect(commands).toContain('PBUTTONACTION 3');
    const server = entry.family === 'server';
    expect({ tracker: commands.includes('Reliability" /v ShutdownReasonOn /t REG_DWORD /d 0'), manager: kids(sp, 'component').some((c) => c.getAttribute('name') === 'Microsoft-Windows-ServerManager-SvrMgrNc') })
      .toEqual({ tracker: server, manager: server });

    const oobe = pass(root, 'oobeSystem');
    const shell = comp(oobe, 'Microsoft-Windows-Shell-Setup');
    expect([text(shell, 'AutoLogon', 'Enabled'), text(shell, 'AutoLogon', 'LogonCount')]).toEqual(['true', '65432']);
    expect([text(shell, 'Display', 'HorizontalResolution'), text(shell, 'Display', 'VerticalResolution')]).toEqual(['1280', '720']);
    const vistaOr7 = entry.bootMode === 'legacy';
    expect(kids(oobe, 'component').some((c) => c.getAttribute('name') === 'Microsoft-Windows-SecureStartup-FilterDriver')).toBe(!vistaOr7);
    if (vistaOr7) expect(text(shell, 'OOBE', 'SkipMachineOOBE')).toBe('true');
    else expect(text(comp(oobe, 'Microsoft-Windows-SecureStartup-FilterDriver'), 'PreventDeviceEncryption')).toBe('true');
  });
});

describe('answer-file settings', () => {
  it('AUTOLOGIN=N logs on once (first logon commands), WIDTH/HEIGHT set the display, COMMAND runs last', () => {
    const { root } = answerFor('11', { AUTOLOGIN: 'N', WIDTH: '1920', HEIGHT: '1080', COMMAND: 'reg add "HKLM\\Software\\Example" /v Enabled /t REG_DWORD /d 1 /f' });
    const shell = comp(pass(root, 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    expect(text(shell, 'AutoLogon', 'LogonCount')).toBe('1');
    expect([text(shell, 'Display', 'HorizontalResolution'), text(shell, 'Display', 'VerticalResolution')]).toEqual(['1920', '1080']);
    expect(allCommands(root).at(-1)).toBe('cmd /c reg add "HKLM\\Software\\Example" /v Enabled /t REG_DWORD /d 1 /f');
  });

  it('DOMAIN joins with the user\'s credentials and OU, adds the account to Administrators and logs it on', () => {
    const { root } = answerFor('2022', { DOMAIN: 'Corp.Example', DOMAIN_OU: 'OU=VMs,DC=corp,DC=example', USERNAME: 'alice@ad.corp.example' });
    const id = path(comp(pass(root, 'specialize'), 'Microsoft-Windows-UnattendedJoin'), 'Identification');
    expect([text(id, 'JoinDomain'), text(id, 'MachineObjectOU'), text(id, 'Credentials', 'Domain'), text(id, 'Credentials', 'Username'), text(id, 'Credentials', 'Password')])
      .toEqual(['corp.example', 'OU=VMs,DC=corp,DC=example', 'ad.corp.example', 'alice', 'Pa55word!']);
    const shell = comp(pass(root, 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    const account = path(shell, 'UserAccounts', 'DomainAccounts', 'DomainAccountList', 'DomainAccount');
    expect([text(account, 'Name'), text(account, 'Group')]).toEqual(['alice', 'Administrators']);
    expect(kids(path(shell, 'UserAccounts'), 'LocalAccounts')).toHaveLength(0);
    expect([text(shell, 'AutoLogon', 'Domain'), text(shell, 'AutoLogon', 'Username')]).toEqual(['ad.corp.example', 'alice']);
  });

  it('WORKGROUP joins a workgroup; DOMAIN must be a domain name, DOMAIN_OU needs DOMAIN (exit 2)', () => {
    const { root } = answerFor('11', { WORKGROUP: 'LAB' });
    expect(text(comp(pass(root, 'specialize'), 'Microsoft-Windows-UnattendedJoin'), 'Identification', 'JoinWorkgroup')).toBe('LAB');
    expect(() => answerFor('11', { DOMAIN: 'https://corp.example' })).toThrow(/DOMAIN must be a DNS domain name/);
    expect(() => answerFor('11', { DOMAIN_OU: 'OU=x' })).toThrow(/DOMAIN_OU must be set only together with DOMAIN/);
    expect(() => answerFor('11', { DOMAIN: 'corp.example', USERNAME: 'CORP\\alice' })).toThrow(/USERNAME must be "user" or "user@domain"/);
  });

  it('Setup targets disk 0 when the system disk has an inbox driver, 1 when its driver comes from the setup image', () => {
    expect(text(comp(pass(answerFor('11', {}, 'sata').root, 'windowsPE'), 'Microsoft-Windows-Setup'), 'DiskConfiguration', 'Disk', 'DiskID')).toBe('0');
    expect([targetDiskNumber(system('scsi'), 'scsi', true), targetDiskNumber(system('scsi'), 'scsi', false), targetDiskNumber(system('sata'), 'sata', true)]).toEqual([1, 0, 0]);
  });

  it('x86 entries name x86 components', () => {
    const { root } = answerFor('7ux86');
    const arches = new Set(kids(root, 'settings').flatMap((s) => kids(s, 'component').map((c) => c.getAttribute('processorArchitecture'))));
    expect([...arches]).toEqual(['x86']);
  });
});
