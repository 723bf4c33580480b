/**
 * Autounattend.xml for a hands-off install, built with xmlbuilder2 (never by string
 * concatenation: user values are escaped by the builder). Pure: settings in, XML text out.
 *
 * Reference: Microsoft's "Unattended Windows Setup Reference" (components named below), "Configure
 * UEFI/GPT-based hard drive partitions" and "Configure BIOS/MBR-based hard drive partitions"
 * (partition layouts), and "Hide sensitive data in an answer file" (password encoding).
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { WindowsFamily } from './catalog.js';
import type { WindowsSettings } from './settings.js';

export interface AnswerFileInput {
  settings: WindowsSettings;
  family: WindowsFamily;
  /** The firmware windock gives the VM: decides GPT (UEFI) or MBR (legacy) partitioning. */
  firmware: 'uefi' | 'secure' | 'legacy';
  /** Windows' number of the disk to install to; follows the bus layout windock built (see systemDiskNumber). */
  diskNumber: number;
  /** windock attaches a TPM 2.0 (swtpm). */
  tpm: boolean;
  ramBytes: number;
  /** The setup image carries an OEM folder (copied to C:\OEM); run its install.bat at first logon. */
  oem: boolean;
  /** Name of the marker file at the setup image's root, used to find its drive letter. */
  markerFile: string;
}

const UNATTEND_NS = 'urn:schemas-microsoft-com:unattend';
const WCM_NS = 'http://schemas.microsoft.com/WMIConfig/2002/State';
const GiB = 2 ** 30;

/**
 * "Hide sensitive data": the value is base64 of the UTF-16LE bytes of the password followed by
 * the element's name — "Password" for UserAccounts/LocalAccounts and AutoLogon passwords,
 * "AdministratorPassword" for the administrator's. It hides, it does not encrypt.
 */
export function encodeUnattendPassword(password: string, element: 'Password' | 'AdministratorPassword'): string {
  return Buffer.from(password + element, 'utf16le').toString('base64');
}

/** The Remote Desktop firewall group by resource id, so it matches on every UI language. */
export const RDP_FIREWALL_GROUP = '@FirewallAPI.dll,-28752';

/** The power button shuts down (action 3) on AC and DC, so ACPI power button = docker stop works. */
export const POWER_BUTTON_COMMANDS = [
  'powercfg /setacvalueindex SCHEME_CURRENT SUB_BUTTONS PBUTTONACTION 3',
  'powercfg /setdcvalueindex SCHEME_CURRENT SUB_BUTTONS PBUTTONACTION 3',
  'powercfg /setactive SCHEME_CURRENT',
] as const;

export function buildAnswerFile(input: AnswerFileInput): string {
  const root = create({ version: '1.0', encoding: 'utf-8' }).ele(UNATTEND_NS, 'unattend');
  windowsPE(root.ele('settings', { pass: 'windowsPE' }), input);
  specialize(root.ele('settings', { pass: 'specialize' }), input);
  oobeSystem(root.ele('settings', { pass: 'oobeSystem' }), input);
  return root.end({ prettyPrint: true });
}

function component(settings: XMLBuilder, name: string): XMLBuilder {
  return settings.ele('component', {
    name,
    processorArchitecture: 'amd64',
    publicKeyToken: '31bf3856ad364e35',
    language: 'neutral',
    versionScope: 'nonSxS',
    'xmlns:wcm': WCM_NS,
  });
}

/** `<parent><k>v</k>...</parent>` for simple values, in the order given. */
function values(parent: XMLBuilder, entries: Record<string, string | number | boolean>): XMLBuilder {
  for (const [key, value] of Object.entries(entries)) parent.ele(key).txt(String(value));
  return parent;
}

function international(settings: XMLBuilder, name: string, s: WindowsSettings, winPE: boolean): void {
  const c = component(settings, name);
  if (winPE) values(c.ele('SetupUILanguage'), { UILanguage: s.uiLanguage });
  values(c, { InputLocale: s.inputLocale, SystemLocale: s.locale, UILanguage: s.uiLanguage, UserLocale: s.locale });
}

function windowsPE(settings: XMLBuilder, input: AnswerFileInput): void {
  const s = input.settings;
  international(settings, 'Microsoft-Windows-International-Core-WinPE', s, true);
  const setup = component(settings, 'Microsoft-Windows-Setup');

  const uefi = input.firmware !== 'legacy';
  const disk = setup.ele('DiskConfiguration').ele('Disk', { 'wcm:action': 'add' });
  values(disk, { DiskID: input.diskNumber, WillWipeDisk: true });
  const create_ = disk.ele('CreatePartitions');
  const modify = disk.ele('ModifyPartitions');
  // UEFI/GPT: EFI system partition (260 MB also suits 4K-sector disks), MSR, Windows.
  // BIOS/MBR: an active system partition, then Windows. (Microsoft's sample layouts.)
  type Fields = Record<string, string | number | boolean>;
  const layout: { create: Fields; modify: Fields }[] = uefi
    ? [
        { create: { Order: 1, Size: 260, Type: 'EFI' }, modify: { Format: 'FAT32', Label: 'System' } },
        { create: { Order: 2, Size: 16, Type: 'MSR' }, modify: {} },
        { create: { Extend: true, Order: 3, Type: 'Primary' }, modify: { Format: 'NTFS', Label: 'Windows', Letter: 'C' } },
      ]
    : [
        { create: { Order: 1, Size: 500, Type: 'Primary' }, modify: { Active: true, Format: 'NTFS', Label: 'System' } },
        { create: { Extend: true, Order: 2, Type: 'Primary' }, modify: { Format: 'NTFS', Label: 'Windows', Letter: 'C' } },
      ];
  layout.forEach((p, i) => {
    values(create_.ele('CreatePartition', { 'wcm:action': 'add' }), p.create);
    values(modify.ele('ModifyPartition', { 'wcm:action': 'add' }), { ...p.modify, Order: i + 1, PartitionID: i + 1 });
  });

  const os = setup.ele('ImageInstall').ele('OSImage');
  values(os.ele('InstallFrom').ele('MetaData', { 'wcm:action': 'add' }), {
    Key: s.image.by === 'name' ? '/IMAGE/NAME' : '/IMAGE/INDEX',
    Value: s.image.value,
  });
  values(os.ele('InstallTo'), { DiskID: input.diskNumber, PartitionID: layout.length });
  values(os, { InstallToAvailablePartition: false });

  const userData = setup.ele('UserData');
  values(userData, { AcceptEula: true, FullName: s.username, Organization: 'windock' });
  const key = userData.ele('ProductKey');
  if (s.productKey) key.ele('Key').txt(s.productKey);
  // OnError: a key Setup rejects shows the key page instead of failing silently.
  key.ele('WillShowUI').txt(s.productKey ? 'OnError' : 'Never');

  // Windows 11 Setup refuses a machine without TPM 2.0, secure boot or 4 GB; these keys (read
  // by Setup from HKLM\SYSTEM\Setup\LabConfig) skip exactly the checks windock cannot satisfy.
  const bypass = [
    ...(input.tpm ? [] : ['BypassTPMCheck']),
    ...(input.firmware === 'secure' ? [] : ['BypassSecureBootCheck']),
    ...(input.ramBytes >= 4 * GiB ? [] : ['BypassRAMCheck']),
  ];
  if (bypass.length > 0) {
    const run = setup.ele('RunSynchronous');
    bypass.forEach((value, i) => {
      values(run.ele('RunSynchronousCommand', { 'wcm:action': 'add' }), {
        Order: i + 1,
        Path: `reg add HKLM\\SYSTEM\\Setup\\LabConfig /v ${value} /t REG_DWORD /d 1 /f`,
        Description: `windock: ${value} (not provided by this VM)`,
      });
    });
  }
}

function specialize(settings: XMLBuilder, input: AnswerFileInput): void {
  const s = input.settings;
  values(component(settings, 'Microsoft-Windows-Shell-Setup'), { ComputerName: s.computerName ?? '*' });
  values(component(settings, 'Microsoft-Windows-TerminalServices-LocalSessionManager'), { fDenyTSConnections: false });
  const group = component(settings, 'Networking-MPSSVC-Svc').ele('FirewallGroups').ele('FirewallGroup', { 'wcm:action': 'add', 'wcm:keyValue': 'RemoteDesktop' });
  values(group, { Active: true, Group: RDP_FIREWALL_GROUP, Profile: 'all' });

  const commands: { path: string; description: string }[] = [
    // A local account, never a Microsoft account, even when OOBE has network (Windows 11 OOBE).
    { path: 'reg add HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\OOBE /v BypassNRO /t REG_DWORD /d 1 /f', description: 'windock: skip the online account (BypassNRO)' },
    // The power button must shut down from the very first boot, OOBE included: docker stop is an
    // ACPI power button press. Set here (as SYSTEM, before OOBE) and again at first logon.
    ...POWER_BUTTON_COMMANDS.map((path) => ({ path, description: 'windock: power button shuts down' })),
    // Servers ignore the power button at the logon screen unless shutdown without logon is allowed.
    { path: 'reg add HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System /v shutdownwithoutlogon /t REG_DWORD /d 1 /f', description: 'windock: power button works at the logon screen' },
  ];
  if (input.family === 'server' && !meetsComplexity(s.password, s.username)) {
    // Windows Server enforces password complexity by default, and Setup cannot create the account
    // with a simpler PASSWORD (the default "admin" included): lift the policy before oobeSystem.
    commands.push({
      path:
        'powershell -NoProfile -NonInteractive -Command "secedit /export /cfg $env:TEMP\\windock-sec.cfg | Out-Null; ' +
        "(Get-Content $env:TEMP\\windock-sec.cfg) -replace 'PasswordComplexity = 1','PasswordComplexity = 0' | Set-Content $env:TEMP\\windock-sec.cfg; " +
        'secedit /configure /db $env:windir\\security\\windock.sdb /cfg $env:TEMP\\windock-sec.cfg /areas SECURITYPOLICY | Out-Null"',
      description: 'windock: PASSWORD is simpler than the server policy allows; complexity requirement off',
    });
  }
  if (isAdministrator(s.username) && input.family === 'client') {
    commands.push({ path: 'net user Administrator /active:yes', description: 'windock: USERNAME is Administrator' });
  }
  if (input.oem) {
    // The setup image's drive letter is not known in advance: find it by its marker file.
    commands.push({
      path: `cmd /c for %d in (D E F G H I J K L M N O P Q R S T U V W X Y Z) do @if exist %d:\\${input.markerFile} xcopy /e /i /h /y %d:\\OEM C:\\OEM`,
      description: 'windock: copy the OEM folder to C:\\OEM',
    });
  }
  const run = component(settings, 'Microsoft-Windows-Deployment').ele('RunSynchronous');
  commands.forEach((c, i) => values(run.ele('RunSynchronousCommand', { 'wcm:action': 'add' }), { Order: i + 1, Path: c.path, Description: c.description }));
}

function oobeSystem(settings: XMLBuilder, input: AnswerFileInput): void {
  const s = input.settings;
  international(settings, 'Microsoft-Windows-International-Core', s, false);
  const shell = component(settings, 'Microsoft-Windows-Shell-Setup');

  values(shell.ele('OOBE'), {
    HideEULAPage: true,
    HideLocalAccountScreen: true,
    HideOEMRegistrationScreen: true,
    HideOnlineAccountScreens: true,
    HideWirelessSetupInOOBE: true,
    // 3: do not send optional diagnostics / no recommended settings (the privacy screens).
    ProtectYourPC: 3,
  });

  const accounts = shell.ele('UserAccounts');
  values(accounts.ele('AdministratorPassword'), { Value: encodeUnattendPassword(s.password, 'AdministratorPassword'), PlainText: false });
  if (!isAdministrator(s.username)) {
    const account = accounts.ele('LocalAccounts').ele('LocalAccount', { 'wcm:action': 'add' });
    values(account.ele('Password'), { Value: encodeUnattendPassword(s.password, 'Password'), PlainText: false });
    values(account, { Description: 'windock user', DisplayName: s.username, Group: 'Administrators', Name: s.username });
  }

  const logon = shell.ele('AutoLogon');
  values(logon.ele('Password'), { Value: encodeUnattendPassword(s.password, 'Password'), PlainText: false });
  // Once: the first logon runs FirstLogonCommands; later logons ask for the password.
  values(logon, { Enabled: true, LogonCount: 1, Username: s.username });

  const first: { command: string; description: string }[] = [
    ...POWER_BUTTON_COMMANDS.map((command) => ({ command, description: 'windock: power button shuts down' })),
    {
      command: `powershell -NoProfile -NonInteractive -Command "Enable-NetFirewallRule -Group '${RDP_FIREWALL_GROUP}'"`,
      description: 'windock: allow Remote Desktop through the firewall',
    },
  ];
  // The shared folder (network/samba.ts): a persistent Z: drive, reconnected at every logon, so it
  // appears once the share is there even when this first logon runs before the network is up.
  first.push({
    command: 'cmd /c net use Z: \\\\host.lan\\Data /persistent:yes',
    description: 'windock: the shared folder (\\\\host.lan\\Data) as drive Z:',
  });
  if (input.oem) {
    first.push({
      command: 'cmd /c if exist C:\\OEM\\install.bat (cd /d C:\\OEM && call install.bat > C:\\OEM\\install.log 2>&1)',
      description: 'windock: run install.bat from the OEM folder (once: first logon only)',
    });
  }
  const commands = shell.ele('FirstLogonCommands');
  first.forEach((c, i) => values(commands.ele('SynchronousCommand', { 'wcm:action': 'add' }), { Order: i + 1, CommandLine: c.command, Description: c.description, RequiresUserInput: false }));
}

/**
 * Windows' "Password must meet complexity requirements" (Microsoft Learn, security policy
 * settings): at least 6 characters, not containing the account name, and characters from three
 * of: upper case, lower case, digits, other.
 */
export function meetsComplexity(password: string, username: string): boolean {
  if (password.length < 6) return false;
  if (username.length > 2 && password.toLowerCase().includes(username.toLowerCase())) return false;
  const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  return classes >= 3;
}

function isAdministrator(username: string): boolean {
  return username.toLowerCase() === 'administrator';
}
