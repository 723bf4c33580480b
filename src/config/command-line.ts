/**
 * The command line: `windock [run]`, `windock health [--url U]`, `windock config`, plus one
 * `--kebab-case` flag per option row. yargs parses; this module only turns its result into plain
 * data (which command, which flag texts), so that parsing stays pure and testable.
 */
import yargs from 'yargs';
import { OPTIONS, type Option } from './options.js';

export type Command = 'run' | 'health' | 'config' | 'unattend';

export type CommandLine =
  | { kind: 'command'; command: Command; flags: Record<string, string>; healthUrl: string | undefined; showSecrets?: boolean }
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
      describe: `${row.doc} [${row.env}]`,
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
  return { kind: 'command', command, flags, healthUrl: typeof url === 'string' ? url : undefined, showSecrets: args['show-secrets'] === true };
}
