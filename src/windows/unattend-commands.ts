/**
 * The commands the answer file runs: as SYSTEM in the specialize pass (before OOBE, so they hold
 * from the first boot) and at the first logon. Pure: the answer-file input in, command lines out.
 * Registry values and commands follow dockur/windows (assets/*.xml and assets/*.cmd) and
 * Microsoft's documentation of each setting named below.
 */
import type { AnswerFileInput } from './unattend.js';

export interface SetupCommand {
  command: string;
  description: string;
}

/** The Remote Desktop firewall group by resource id, so it matches on every UI language. */
export const RDP_FIREWALL_GROUP = '@FirewallAPI.dll,-28752';

/** AutoLogon LogonCount that keeps automatic logon on at every boot (dockur assets/win2022.xml's value). */
export const AUTOLOGON_EVERY_BOOT = 65432;

/** The power button shuts down (action 3) on AC and DC, so ACPI power button = docker stop works. */
export const POWER_BUTTON_COMMANDS = [
  'powercfg /setacvalueindex SCHEME_CURRENT SUB_BUTTONS PBUTTONACTION 3',
  'powercfg /setdcvalueindex SCHEME_CURRENT SUB_BUTTONS PBUTTONACTION 3',
  'powercfg /setactive SCHEME_CURRENT',
] as const;

const reg = (key: string, name: string, value: number) => `reg.exe add "${key}" /v ${name} /t REG_DWORD /d ${value} /f`;

const GiB = 2 ** 30;

/**
 * Windows PE (windowsPE pass, before Setup checks the machine): the LabConfig values Windows 11
 * Setup reads to skip a hardware check, one per requirement this VM does not meet — no TPM (swtpm
 * absent or failed: tpm-stage.ts), no secure boot, under 4 GB of RAM. Commands as dockur/windows
 * assets/win11x64.xml writes them; with the TPM check also MoSetup's
 * AllowUpgradesWithUnsupportedTPMOrCPU, so that a later feature update (an in-place upgrade by
 * setup.exe) is not refused on the same machine. Older Windows ignore these keys.
 */
export function setupCheckBypasses(input: Pick<AnswerFileInput, 'tpm' | 'firmware' | 'ramBytes'>): SetupCommand[] {
  const lab = (name: string, lacking: string): SetupCommand => ({ command: reg('HKLM\\SYSTEM\\Setup\\LabConfig', name, 1), description: `windock: ${name} (this VM has ${lacking})` });
  return [
    ...(input.tpm
      ? []
      : [lab('BypassTPMCheck', 'no TPM'), { command: reg('HKLM\\SYSTEM\\Setup\\MoSetup', 'AllowUpgradesWithUnsupportedTPMOrCPU', 1), description: 'windock: feature updates without a TPM' }]),
    ...(input.firmware === 'secure' ? [] : [lab('BypassSecureBootCheck', 'no secure boot')]),
    ...(input.ramBytes >= 4 * GiB ? [] : [lab('BypassRAMCheck', 'under 4 GB of RAM')]),
  ];
}

export function specializeCommands(input: AnswerFileInput): SetupCommand[] {
  const s = input.settings;
  const commands: SetupCommand[] = [
    // A local account, never a Microsoft account, even when OOBE has network (Windows 11 OOBE).
    ...(input.vistaOr7 ? [] : [{ command: reg('HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\OOBE', 'BypassNRO', 1), description: 'windock: skip the online account (BypassNRO)' }]),
    // The power button must shut down from the very first boot, OOBE included: docker stop is an
    // ACPI power button press. Set here (as SYSTEM, before OOBE) and again at first logon.
    ...POWER_BUTTON_COMMANDS.map((command) => ({ command, description: 'windock: power button shuts down' })),
    // Servers ignore the power button at the logon screen unless shutdown without logon is allowed.
    { command: reg('HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System', 'shutdownwithoutlogon', 1), description: 'windock: power button works at the logon screen' },
    // The screen never blanks: the viewer shows a desktop, not a black frame.
    { command: 'powercfg /change monitor-timeout-ac 0', description: 'windock: monitor timeout 0' },
    // The first network is private (category 1), so RDP and discovery are not firewalled as public.
    { command: reg('HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\CurrentVersion\\NetworkList\\Signatures\\FirstNetwork', 'Category', 1), description: 'windock: network profile private' },
    // Device encryption prevented (the registry form; the SecureStartup component says it too).
    { command: reg('HKLM\\SYSTEM\\CurrentControlSet\\Control\\BitLocker', 'PreventDeviceEncryption', 1), description: 'windock: no device encryption' },
    // Local passwords never expire: a VM whose password expired locks its user out of RDP.
    { command: 'net accounts /maxpwage:unlimited', description: 'windock: the password never expires' },
  ];
  if (input.family === 'server') {
    commands.push({ command: reg('HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Reliability', 'ShutdownReasonOn', 0), description: 'windock: no shutdown event tracker' });
    if (!meetsComplexity(s.password, s.username)) {
      // Windows Server enforces password complexity by default, and Setup cannot create the account
      // with a simpler PASSWORD (the default "admin" included): lift the policy before oobeSystem.
      commands.push({
        command:
          'powershell -NoProfile -NonInteractive -Command "secedit /export /cfg $env:TEMP\\windock-sec.cfg | Out-Null; ' +
          "(Get-Content $env:TEMP\\windock-sec.cfg) -replace 'PasswordComplexity = 1','PasswordComplexity = 0' | Set-Content $env:TEMP\\windock-sec.cfg; " +
          'secedit /configure /db $env:windir\\security\\windock.sdb /cfg $env:TEMP\\windock-sec.cfg /areas SECURITYPOLICY | Out-Null"',
        description: 'windock: PASSWORD is simpler than the server policy allows; complexity requirement off',
      });
    }
  }
  if (isAdministrator(s.username) && input.family === 'client') {
    commands.push({ command: 'net user Administrator /active:yes', description: 'windock: USERNAME is Administrator' });
  }
  if (input.oem) {
    // The setup image's drive letter is not known in advance: find it by its marker file.
    commands.push({
      command: `cmd /c for %d in (D E F G H I J K L M N O P Q R S T U V W X Y Z) do @if exist %d:\\${input.markerFile} xcopy /e /i /h /y %d:\\OEM C:\\OEM`,
      description: 'windock: copy the OEM folder to C:\\OEM',
    });
  }
  return commands;
}

export function firstLogonCommands(input: AnswerFileInput): SetupCommand[] {
  const first: SetupCommand[] = [
    ...POWER_BUTTON_COMMANDS.map((command) => ({ command, description: 'windock: power button shuts down' })),
    input.vistaOr7
      ? { command: 'netsh advfirewall firewall set rule group="remote desktop" new enable=Yes', description: 'windock: allow Remote Desktop through the firewall' }
      : { command: `powershell -NoProfile -NonInteractive -Command "Enable-NetFirewallRule -Group '${RDP_FIREWALL_GROUP}'"`, description: 'windock: allow Remote Desktop through the firewall' },
  ];
  if (!input.vistaOr7) {
    first.push({
      command: 'powershell -NoProfile -NonInteractive -Command "Get-NetConnectionProfile | Set-NetConnectionProfile -NetworkCategory Private"',
      description: 'windock: the network the guest is on is private',
    });
  }
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
  if (input.settings.command) first.push({ command: `cmd /c ${input.settings.command}`, description: 'windock: COMMAND' });
  return first;
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

export function isAdministrator(username: string): boolean {
  return username.toLowerCase() === 'administrator';
}
