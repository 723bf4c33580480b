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
import type { WindowsArch, WindowsFamily } from './catalog.js';
import type { WindowsSettings } from './settings.js';
import { AUTOLOGON_EVERY_BOOT, firstLogonCommands, isAdministrator, RDP_FIREWALL_GROUP, setupCheckBypasses, specializeCommands } from './unattend-commands.js';

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
  /** processorArchitecture of every component: Setup ignores components of another architecture. */
  arch?: WindowsArch;
  /**
   * Vista, 7 and 2008 R2: their OOBE schema lacks the Windows 8+ account screens (HideOnlineAccountScreens
   * ...) and knows NetworkLocation/SkipMachineOOBE instead (dockur assets/win7x64-ultimate.xml).
   */
  vistaOr7?: boolean;
  /** Write passwords as Windows itself does in the copy it keeps ("*SENSITIVE*DATA*DELETED*"): for `windock unattend`. */
  redactSecrets?: boolean;
}

/** What Windows Setup writes in place of passwords in the answer file it keeps (Microsoft: "Hide sensitive data"). */
export const REDACTED = '*SENSITIVE*DATA*DELETED*';

const UNATTEND_NS = 'urn:schemas-microsoft-com:unattend';
const WCM_NS = 'http://schemas.microsoft.com/WMIConfig/2002/State';

/**
 * "Hide sensitive data": the value is base64 of the UTF-16LE bytes of the password followed by
 * the element's name — "Password" for UserAccounts/LocalAccounts and AutoLogon passwords,
 * "AdministratorPassword" for the administrator's. It hides, it does not encrypt.
 */
export function encodeUnattendPassword(password: string, element: 'Password' | 'AdministratorPassword'): string {
  return Buffer.from(password + element, 'utf16le').toString('base64');
}

/** A `<Password>`-like element: the hidden form, or the redaction marker. */
function secret(parent: XMLBuilder, input: AnswerFileInput, element: 'Password' | 'AdministratorPassword'): void {
  const value = input.redactSecrets ? REDACTED : encodeUnattendPassword(input.settings.password, element);
  values(parent.ele(element), { Value: value, PlainText: false });
}

export { meetsComplexity, POWER_BUTTON_COMMANDS, RDP_FIREWALL_GROUP } from './unattend-commands.js';

// Each <settings> element's architecture, so that component() needs no extra parameter.
const archOf = new WeakMap<object, WindowsArch>();

export function buildAnswerFile(input: AnswerFileInput): string {
  const root = create({ version: '1.0', encoding: 'utf-8' }).ele(UNATTEND_NS, 'unattend');
  const pass = (name: string) => {
    const settings = root.ele('settings', { pass: name });
    archOf.set(settings.node, input.arch ?? 'amd64');
    return settings;
  };
  windowsPE(pass('windowsPE'), input);
  specialize(pass('specialize'), input);
  oobeSystem(pass('oobeSystem'), input);
  return root.end({ prettyPrint: true });
}

/** A component of the answer file's architecture (the `settings` element carries it, see buildAnswerFile). */
function component(settings: XMLBuilder, name: string): XMLBuilder {
  return settings.ele('component', {
    name,
    processorArchitecture: archOf.get(settings.node) ?? 'amd64',
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

  // Dynamic Update off: Setup would otherwise fetch updates (and stall without a route out).
  values(setup.ele('DynamicUpdate'), { Enable: false, WillShowUI: 'Never' });

  const userData = setup.ele('UserData');
  values(userData, { AcceptEula: true, FullName: s.username, Organization: 'windock' });
  const key = userData.ele('ProductKey');
  if (s.productKey) key.ele('Key').txt(s.productKey);
  // OnError: a key Setup rejects shows the key page instead of failing silently.
  key.ele('WillShowUI').txt(s.productKey ? 'OnError' : 'Never');

  // Windows 11 Setup refuses a machine without TPM 2.0, secure boot or 4 GB: skip exactly the checks this VM fails.
  const bypass = setupCheckBypasses(input);
  if (bypass.length > 0) {
    const run = setup.ele('RunSynchronous');
    bypass.forEach((c, i) => values(run.ele('RunSynchronousCommand', { 'wcm:action': 'add' }), { Order: i + 1, Path: c.command, Description: c.description }));
  }
}

function specialize(settings: XMLBuilder, input: AnswerFileInput): void {
  const s = input.settings;
  values(component(settings, 'Microsoft-Windows-Shell-Setup'), { ComputerName: s.computerName ?? '*' });
  // Remote Desktop on, with its firewall rule (group by resource id: every UI language).
  values(component(settings, 'Microsoft-Windows-TerminalServices-LocalSessionManager'), { fDenyTSConnections: false });
  const group = component(settings, 'Networking-MPSSVC-Svc').ele('FirewallGroups').ele('FirewallGroup', { 'wcm:action': 'add', 'wcm:keyValue': 'RemoteDesktop' });
  values(group, { Active: true, Group: RDP_FIREWALL_GROUP, Profile: 'all' });
  membership(settings, input);
  if (input.family === 'server') {
    values(component(settings, 'Microsoft-Windows-ServerManager-SvrMgrNc'), { DoNotOpenServerManagerAtLogon: true });
    values(component(settings, 'Microsoft-Windows-OutOfBoxExperience'), { DoNotOpenInitialConfigurationTasksAtLogon: true });
  }
  const run = component(settings, 'Microsoft-Windows-Deployment').ele('RunSynchronous');
  specializeCommands(input).forEach((c, i) => values(run.ele('RunSynchronousCommand', { 'wcm:action': 'add' }), { Order: i + 1, Path: c.command, Description: c.description }));
}

/** DOMAIN (UnattendedJoin with the user's credentials, DOMAIN_OU) or WORKGROUP. */
function membership(settings: XMLBuilder, input: AnswerFileInput): void {
  const s = input.settings;
  if (!s.domain && !s.workgroup) return;
  const id = component(settings, 'Microsoft-Windows-UnattendedJoin').ele('Identification');
  if (s.domain) {
    const credentials = id.ele('Credentials');
    values(credentials, { Domain: s.domain.accountDomain, Username: s.domain.account });
    // UnattendedJoin takes its password in plain text only (Unattend reference, Credentials | Password).
    credentials.ele('Password').txt(input.redactSecrets ? REDACTED : s.password);
    values(id, { JoinDomain: s.domain.name });
    if (s.domain.ou) values(id, { MachineObjectOU: s.domain.ou });
  } else if (s.workgroup) {
    values(id, { JoinWorkgroup: s.workgroup });
  }
}

function oobeSystem(settings: XMLBuilder, input: AnswerFileInput): void {
  const s = input.settings;
  international(settings, 'Microsoft-Windows-International-Core', s, false);
  // Device encryption (BitLocker on a TPM machine) prevented: a VM disk must stay readable
  // outside the guest (dockur assets/win11x64.xml). The component exists from Windows 10 1809.
  if (!input.vistaOr7) values(component(settings, 'Microsoft-Windows-SecureStartup-FilterDriver'), { PreventDeviceEncryption: true });
  const shell = component(settings, 'Microsoft-Windows-Shell-Setup');

  values(
    shell.ele('OOBE'),
    input.vistaOr7
      ? { HideEULAPage: true, HideWirelessSetupInOOBE: true, NetworkLocation: 'Work', ProtectYourPC: 3, SkipMachineOOBE: true, SkipUserOOBE: true }
      : {
          HideEULAPage: true,
          HideLocalAccountScreen: true,
          HideOEMRegistrationScreen: true,
          HideOnlineAccountScreens: true,
          HideWirelessSetupInOOBE: true,
          // 3: do not send optional diagnostics / no recommended settings (the privacy screens).
          ProtectYourPC: 3,
        },
  );

  const accounts = shell.ele('UserAccounts');
  secret(accounts, input, 'AdministratorPassword');
  const logonUser = s.domain ? s.domain.account : s.username;
  if (s.domain) {
    // The domain account joins the local Administrators (dockur: "added to the local Administrators group").
    const list = accounts.ele('DomainAccounts').ele('DomainAccountList', { 'wcm:action': 'add' });
    values(list, { Domain: s.domain.accountDomain });
    values(list.ele('DomainAccount', { 'wcm:action': 'add' }), { Group: 'Administrators', Name: s.domain.account });
  } else if (!isAdministrator(s.username)) {
    const account = accounts.ele('LocalAccounts').ele('LocalAccount', { 'wcm:action': 'add' });
    secret(account, input, 'Password');
    values(account, { Description: 'windock user', DisplayName: s.username, Group: 'Administrators', Name: s.username });
  }

  // AUTOLOGIN=Y: the account signs in at every boot (a LogonCount no VM reaches), so the desktop
  // is up for RDP and the viewer. N: the first logon only, which FirstLogonCommands need.
  const logon = shell.ele('AutoLogon');
  secret(logon, input, 'Password');
  values(logon, { ...(s.domain ? { Domain: s.domain.accountDomain } : {}), Enabled: true, LogonCount: s.autologin ? AUTOLOGON_EVERY_BOOT : 1, Username: logonUser });
  values(shell.ele('Display'), { ColorDepth: 32, HorizontalResolution: s.display.width, VerticalResolution: s.display.height });

  const commands = shell.ele('FirstLogonCommands');
  firstLogonCommands(input).forEach((c, i) => values(commands.ele('SynchronousCommand', { 'wcm:action': 'add' }), { Order: i + 1, CommandLine: c.command, Description: c.description, RequiresUserInput: false }));
}
