/**
 * The command line: `windock [run]`, `windock health [--url U]`, `windock config`, plus one
 * `--kebab-case` flag per option row. yargs parses; this module only turns its result into plain
 * data (which command, which flag texts), so that parsing stays pure and testable.
 */
import yargs from 'yargs';
import { OPTIONS, type Option } from './options.js';

export type Command = 'run' | 'health' | 'config' | 'unattend' | 'snapshot' | 'reset' | 'export';

/** The words of a lab command (src/lab/lab-commands.ts turns them into a control request). */
export interface LabWords {
  action?: string;
  name?: string;
  path?: string;
  discardChanges: boolean;
}

export type CommandLine =
  | { kind: 'command'; command: Command; flags: Record<string, string>; healthUrl: string | undefined; lab?: LabWords; showSecrets?: boolean }
  /** --help, --version, or a usage error: print `output` and exit with `exitCode`. */
  | { kind: 'exit'; exitCode: number; output: string };

export function parseCommandLine(argv: readonly string[], version: string): CommandLine {
  let command: Command = 'run';
  const parser = yargs([...argv])
    .scriptName('windock')
    .usage('$0 [command] [options]\n\nRuns a VM under QEMU and supervises it. Every option is also an environment variable (shown in brackets); flags win.')
    .command(['run', '$0'], 'supervise the VM until it powers off (the container main process)', () => {}, () => {
      command = 'run';
    })
    .command('health', 'exit 0 when /health answers 200 (a Docker HEALTHCHECK without curl)', (y) =>
      y.option('url', { type: 'string', describe: 'health URL', defaultDescription: 'http://127.0.0.1:$WEB_PORT/health' }),
    () => {
      command = 'health';
    })
    .command('config', 'print the resolved configuration as JSON (secrets redacted); exit 2 when invalid', () => {}, () => {
      command = 'config';
    })
    .command('unattend', 'print the Autounattend.xml the settings give (passwords redacted); exit 2 when VERSION has none', (y) =>
      y.option('show-secrets', { type: 'boolean', default: false, describe: 'print passwords and KEY as the answer file holds them' }),
    () => {
      command = 'unattend';
    })
    .command('snapshot <action> [name]', 'save|list|revert|delete NAME: snapshots of the running VM (disk, UEFI vars, TPM and memory together)', (y) =>
      y
        .positional('action', { choices: ['save', 'list', 'revert', 'delete'] as const, describe: 'what to do' })
        .positional('name', { type: 'string', describe: 'snapshot name (letters, digits, . _ -)' })
        .option('discard-changes', { type: 'boolean', describe: 'revert without saving the current state first (persistent disks)' }),
    () => {
      command = 'snapshot';
    })
    .command('reset', 'back to the golden snapshot: the start of the session (EPHEMERAL=Y) or the snapshot "golden"', (y) =>
      y.option('discard-changes', { type: 'boolean', describe: 'no automatic snapshot of the current state first (persistent disks)' }),
    () => {
      command = 'reset';
    })
    .command('export <path>', 'write the disk, backing chain flattened, as a compressed qcow2 golden image (the guest must be off)', (y) =>
      y.positional('path', { type: 'string', describe: 'the new image file (must not exist)' }),
    () => {
      command = 'export';
    })
    .version(version)
    .help()
    .alias('h', 'help')
    .strict()
    .exitProcess(false)
    .wrap(Math.min(110, yargs().terminalWidth?.() ?? 100));
  for (const row of Object.values(OPTIONS) as Option<unknown>[]) {
    parser.option(row.flag, {
      type: 'string',
      group: `${row.group}:`,
      // dockur's name beside windock's where they differ, so a dockur user finds the setting.
      describe: `${row.doc} [${row.env}${row.dockur ? `; dockur: ${row.dockur}` : ''}]`,
      defaultDescription: row.defaultText,
    });
  }

  let failure: string | undefined;
  let output = '';
  parser.fail((message, error) => {
    failure = message ?? error?.message ?? 'invalid command line';
  });
  const args = parser.parse([...argv], {}, (_error, _argv, text) => {
    output = text ?? '';
  }) as Record<string, unknown>;

  if (failure !== undefined) {
    return { kind: 'exit', exitCode: 2, output: `${failure}\nRun "windock --help" for the options.` };
  }
  if (args['help'] || args['version']) return { kind: 'exit', exitCode: 0, output };

  const flags: Record<string, string> = {};
  for (const row of Object.values(OPTIONS) as Option<unknown>[]) {
    const value = args[row.flag];
    if (typeof value === 'string') flags[row.flag] = value;
    // A flag given twice arrives as an array; the last one wins, as on most command lines.
    else if (Array.isArray(value) && value.length > 0) flags[row.flag] = String(value[value.length - 1]);
  }
  const url = args['url'];
  const word = (key: string): string | undefined => (typeof args[key] === 'string' ? (args[key] as string) : undefined);
  const lab: LabWords = { action: word('action'), name: word('name'), path: word('path'), discardChanges: args['discard-changes'] === true };
  return { kind: 'command', command, flags, healthUrl: typeof url === 'string' ? url : undefined, lab, showSecrets: args['show-secrets'] === true };
}
