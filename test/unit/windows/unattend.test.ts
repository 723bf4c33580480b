/**
 * The answer file, checked by parsing it back (xmlbuilder2's DOM), never by searching strings:
 * well-formed XML, the right values in the right passes and components, for a matrix of settings.
 */
import { describe, expect, it } from 'vitest';
import { child, commandsOf, comp, kids, parse, pass, path, text } from './xml-dom.js';
import { resolveVersion, type CatalogEntry } from '../../../src/windows/catalog.js';
import { windowsSettings } from '../../../src/windows/settings.js';
import { buildAnswerFile, encodeUnattendPassword, meetsComplexity, RDP_FIREWALL_GROUP, type AnswerFileInput } from '../../../src/windows/unattend.js';

const GiB = 2 ** 30;

function entry(key: string): CatalogEntry {
  const r = resolveVersion(key);
  if (r.kind !== 'catalog') throw new Error(key);
  return r.entry;
}

type Cfg = { username: string; password: string; language: string; region?: string; keyboard?: string; edition?: string; key?: string; computerName?: string };
const baseConfig: Cfg = { username: 'Docker', password: 'admin', language: 'English' };

function input(overrides: Partial<AnswerFileInput> & { config?: Partial<Cfg>; version?: string } = {}): AnswerFileInput {
  const e = entry(overrides.version ?? '11');
  const { settings } = windowsSettings({ ...baseConfig, ...overrides.config }, e);
  return { settings, family: e.family, firmware: 'secure', diskNumber: 0, tpm: true, ramBytes: 4 * GiB, oem: false, markerFile: 'windock-setup.tag', ...overrides };
}

describe('Autounattend.xml', () => {
  const matrix = [
    { version: '11', language: 'English', firmware: 'secure', tpm: true, ram: 4, oem: false },
    { version: '11', language: 'French', firmware: 'uefi', tpm: false, ram: 2, oem: true },
    { version: '11e', language: 'de', firmware: 'legacy', tpm: false, ram: 8, oem: false },
    { version: '10', language: 'ja-JP', firmware: 'uefi', tpm: false, ram: 4, oem: true },
    { version: '2022', language: 'English', firmware: 'uefi', tpm: false, ram: 4, oem: true },
    { version: '2025', language: 'es', firmware: 'secure', tpm: true, ram: 16, oem: false },
  ] as const;

  it.each(matrix)('$version / $language / $firmware / tpm=$tpm / ram=$ram GiB / oem=$oem', (m) => {
    const xml = buildAnswerFile(input({ version: m.version, config: { language: m.language }, firmware: m.firmware, tpm: m.tpm, ramBytes: m.ram * GiB, oem: m.oem }));
    const root = parse(xml);
    expect(root.localName).toBe('unattend');
    expect(root.namespaceURI).toBe('urn:schemas-microsoft-com:unattend');
    expect(kids(root, 'settings').map((s) => s.getAttribute('pass'))).toEqual(['windowsPE', 'specialize', 'oobeSystem']);

    const culture = windowsSettings({ ...baseConfig, language: m.language }, entry(m.version)).settings.uiLanguage;
    const pe = pass(root, 'windowsPE');
    const intl = comp(pe, 'Microsoft-Windows-International-Core-WinPE');
    expect(text(intl, 'SetupUILanguage', 'UILanguage')).toBe(culture);
    expect(text(intl, 'UILanguage')).toBe(culture);
    expect(text(intl, 'SystemLocale')).toBe(culture);

    // Partitioning per firmware: GPT EFI/MSR/Primary vs MBR active system + Primary.
    const setup = comp(pe, 'Microsoft-Windows-Setup');
    const disk = path(setup, 'DiskConfiguration', 'Disk');
    expect(text(disk, 'DiskID')).toBe('0');
    expect(text(disk, 'WillWipeDisk')).toBe('true');
    const types = kids(child(disk, 'CreatePartitions'), 'CreatePartition').map((p) => text(p, 'Type'));
    expect(types).toEqual(m.firmware === 'legacy' ? ['Primary', 'Primary'] : ['EFI', 'MSR', 'Primary']);
    expect(text(setup, 'ImageInstall', 'OSImage', 'InstallTo', 'PartitionID')).toBe(String(types.length));
    const windowsPart = kids(child(disk, 'ModifyPartitions'), 'ModifyPartition').at(-1)!;
    expect(text(windowsPart, 'Letter')).toBe('C');
    expect(text(windowsPart, 'Format')).toBe('NTFS');

    // Image selection: consumer media by name, evaluation client media by index.
    const meta = path(setup, 'ImageInstall', 'OSImage', 'InstallFrom', 'MetaData');
    if (m.version === '11e') {
      expect([text(meta, 'Key'), text(meta, 'Value')]).toEqual(['/IMAGE/INDEX', '1']);
    } else {
      expect(text(meta, 'Key')).toBe('/IMAGE/NAME');
    }

    // Checks bypassed only for what the VM lacks, with dockur's commands (assets/win11x64.xml).
    const bypass = kids(setup, 'RunSynchronous').flatMap((r) => commandsOf(r, 'RunSynchronousCommand', 'Path'));
    const lab = (name: string) => `reg.exe add "HKLM\\SYSTEM\\Setup\\LabConfig" /v ${name} /t REG_DWORD /d 1 /f`;
    const want = [
      ...(m.tpm ? [] : [lab('BypassTPMCheck'), 'reg.exe add "HKLM\\SYSTEM\\Setup\\MoSetup" /v AllowUpgradesWithUnsupportedTPMOrCPU /t REG_DWORD /d 1 /f']),
      ...(m.firmware === 'secure' ? [] : [lab('BypassSecureBootCheck')]),
      ...(m.ram >= 4 ? [] : [lab('BypassRAMCheck')]),
    ];
    expect(bypass).toEqual(want);

    const sp = pass(root, 'specialize');
    expect(text(comp(sp, 'Microsoft-Windows-TerminalServices-LocalSessionManager'), 'fDenyTSConnections')).toBe('false');
    const fw = path(comp(sp, 'Networking-MPSSVC-Svc'), 'FirewallGroups', 'FirewallGroup');
    expect([text(fw, 'Active'), text(fw, 'Group')]).toEqual(['true', RDP_FIREWALL_GROUP]);
    const specializeCmds = commandsOf(path(comp(sp, 'Microsoft-Windows-Deployment'), 'RunSynchronous'), 'RunSynchronousCommand', 'Path');
    expect(specializeCmds.some((c) => c?.includes('BypassNRO'))).toBe(true);
    expect(specializeCmds.some((c) => c?.includes('xcopy'))).toBe(m.oem);

    const oobe = pass(root, 'oobeSystem');
    const shell = comp(oobe, 'Microsoft-Windows-Shell-Setup');
    expect(text(shell, 'OOBE', 'HideOnlineAccountScreens')).toBe('true');
    expect(text(shell, 'OOBE', 'ProtectYourPC')).toBe('3');
    const account = path(shell, 'UserAccounts', 'LocalAccounts', 'LocalAccount');
    expect(account.getAttribute('wcm:action')).toBe('add');
    expect(text(account, 'Name')).toBe('Docker');
    expect(text(account, 'Group')).toBe('Administrators');
    // AUTOLOGIN defaults to Y: automatic logon at every boot.
    expect(text(shell, 'AutoLogon', 'LogonCount')).toBe('65432');
    const first = commandsOf(child(shell, 'FirstLogonCommands'), 'SynchronousCommand', 'CommandLine');
    expect(first).toContain('powercfg /setacvalueindex SCHEME_CURRENT SUB_BUTTONS PBUTTONACTION 3');
    expect(first).toContain('powercfg /setdcvalueindex SCHEME_CURRENT SUB_BUTTONS PBUTTONACTION 3');
    expect(first).toContain('powercfg /setactive SCHEME_CURRENT');
    expect(first.some((c) => c?.includes('Enable-NetFirewallRule'))).toBe(true);
    expect(first.some((c) => c?.includes('install.bat'))).toBe(m.oem);
    // Orders are 1..n without gaps: Setup runs them by Order.
    expect(kids(child(shell, 'FirstLogonCommands'), 'SynchronousCommand').map((c) => text(c, 'Order'))).toEqual(first.map((_, i) => String(i + 1)));
  });

  it('encodes passwords in Microsoft\'s documented form, never in plain text', () => {
    const secret = 'S3cr&t<"pässwörd>';
    const xml = buildAnswerFile(input({ config: { password: secret } }));
    const shell = comp(pass(parse(xml), 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    const admin = path(shell, 'UserAccounts', 'AdministratorPassword');
    expect(text(admin, 'PlainText')).toBe('false');
    expect(Buffer.from(text(admin, 'Value')!, 'base64').toString('utf16le')).toBe(`${secret}AdministratorPassword`);
    const user = path(shell, 'UserAccounts', 'LocalAccounts', 'LocalAccount', 'Password');
    expect(Buffer.from(text(user, 'Value')!, 'base64').toString('utf16le')).toBe(`${secret}Password`);
    expect(text(shell, 'AutoLogon', 'Password', 'Value')).toBe(encodeUnattendPassword(secret, 'Password'));
    expect(xml.includes(secret)).toBe(false);
    // A known vector: "admin" + "Password" as UTF-16LE, base64.
    expect(encodeUnattendPassword('admin', 'Password')).toBe('YQBkAG0AaQBuAFAAYQBzAHMAdwBvAHIAZAA=');
  });

  it('escapes user values: a name with XML metacharacters survives the round trip', () => {
    const xml = buildAnswerFile(input({ config: { username: "O'Brien & Sons" } }));
    const shell = comp(pass(parse(xml), 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    expect(text(shell, 'UserAccounts', 'LocalAccounts', 'LocalAccount', 'Name')).toBe("O'Brien & Sons");
  });

  it('uses KEY, else the edition\'s generic key, else none with WillShowUI=Never', () => {
    const keyOf = (xml: string) => {
      const pk = path(comp(pass(parse(xml), 'windowsPE'), 'Microsoft-Windows-Setup'), 'UserData', 'ProductKey');
      return [kids(pk, 'Key').map((k) => k.textContent)[0], text(pk, 'WillShowUI')];
    };
    expect(keyOf(buildAnswerFile(input({ config: { key: 'abcde-12345-fghij-67890-klmno' } })))).toEqual(['ABCDE-12345-FGHIJ-67890-KLMNO', 'OnError']);
    expect(keyOf(buildAnswerFile(input({ config: { edition: 'Education' } })))).toEqual(['YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY', 'OnError']);
    expect(keyOf(buildAnswerFile(input({ version: '2022', firmware: 'uefi' })))).toEqual([undefined, 'Never']);
  });

  it('follows REGION, KEYBOARD, COMPUTER_NAME and the disk number it is given', () => {
    const xml = buildAnswerFile(input({ config: { language: 'English', region: 'en_gb', keyboard: '0407:00000407', computerName: 'build-01' }, diskNumber: 1 }));
    const root = parse(xml);
    const intl = comp(pass(root, 'oobeSystem'), 'Microsoft-Windows-International-Core');
    expect([text(intl, 'UILanguage'), text(intl, 'UserLocale'), text(intl, 'InputLocale')]).toEqual(['en-US', 'en-GB', '0407:00000407']);
    expect(text(comp(pass(root, 'specialize'), 'Microsoft-Windows-Shell-Setup'), 'ComputerName')).toBe('BUILD-01');
    const setup = comp(pass(root, 'windowsPE'), 'Microsoft-Windows-Setup');
    expect(text(setup, 'DiskConfiguration', 'Disk', 'DiskID')).toBe('1');
    expect(text(setup, 'ImageInstall', 'OSImage', 'InstallTo', 'DiskID')).toBe('1');
  });

  it('lifts the server password complexity policy only when PASSWORD would fail it', () => {
    const specializeCommands = (xml: string) =>
      commandsOf(path(comp(pass(parse(xml), 'specialize'), 'Microsoft-Windows-Deployment'), 'RunSynchronous'), 'RunSynchronousCommand', 'Path');
    const lifted = (version: string, password: string) =>
      specializeCommands(buildAnswerFile(input({ version, firmware: 'uefi', config: { password } }))).some((c) => c?.includes('PasswordComplexity = 0'));
    expect(lifted('2022', 'admin')).toBe(true);
    expect(lifted('2022', 'Str0ng!Pass')).toBe(false);
    expect(lifted('11', 'admin')).toBe(false);
    expect(meetsComplexity('Docker123!', 'Docker')).toBe(false);
  });

  it('uses the built-in Administrator instead of adding an account of that name', () => {
    const xml = buildAnswerFile(input({ config: { username: 'Administrator' } }));
    const shell = comp(pass(parse(xml), 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    expect(kids(child(shell, 'UserAccounts'), 'LocalAccounts')).toHaveLength(0);
    expect(text(shell, 'AutoLogon', 'Username')).toBe('Administrator');
  });

  it('refuses invalid Windows settings with the variable named (exit 2)', () => {
    expect(() => windowsSettings({ ...baseConfig, username: 'a/b' }, entry('11'))).toThrow(/USERNAME must be/);
    expect(() => windowsSettings({ ...baseConfig, computerName: 'much-too-long-a-name' }, entry('11'))).toThrow(/COMPUTER_NAME must be/);
    expect(() => windowsSettings({ ...baseConfig, key: 'nope' }, entry('11'))).toThrow(/KEY must be/);
    expect(() => windowsSettings({ ...baseConfig, key: 'nope' }, entry('11'))).not.toThrow(/nope/);
    expect(windowsSettings(baseConfig, entry('11')).warnings.join(' ')).toContain('PASSWORD');
  });
});
