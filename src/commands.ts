/**
 * The commands: `run` (supervise the VM), `health` (probe /health for a Docker HEALTHCHECK),
 * `config` (print the resolved settings), `unattend` (print the answer file the settings give), and
 * the lab commands `snapshot`, `reset` and `export` (src/lab/lab-commands.ts). Receives everything
 * from main.
 */
import { createRequire } from 'node:module';
import type { CommandLine } from './config/command-line.js';
import { redactConfig, resolveSettings, type RawSettings } from './config/resolve.js';
import { OPTIONS, type Config } from './config/options.js';
import { AppError, EXIT_CODES } from './core/errors.js';
import { createLogger } from './core/log.js';
import { plainProfile } from './guest/profile.js';
import type { StopRequests } from './supervisor/stop-requests.js';
import { checkWindowsSettings } from './windows/windows-profile.js';

export interface CommandIo {
  argv: readonly string[];
  env: RawSettings;
  stdoutIsTty: boolean;
  stop: StopRequests;
  print: (text: string) => void;
  printError: (text: string) => void;
}

/** Variables holding secrets: main removes them from the environment children inherit. */
export const SECRET_ENV: readonly string[] = Object.values(OPTIONS)
  .filter((row) => row.secret === true)
  .map((row) => row.env);

export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export async function runCommandLine(io: CommandIo): Promise<number> {
  // A container starts `windock` with no arguments: that needs no parser (and yargs' import is a
  // good part of the start-up time that QEMU waits on).
  const line: CommandLine =
    io.argv.length === 0
      ? { kind: 'command', command: 'run', flags: {}, healthUrl: undefined }
      : (await import('./config/command-line.js')).parseCommandLine(io.argv, VERSION);
  if (line.kind === 'exit') {
    (line.exitCode === 0 ? io.print : io.printError)(line.output);
    return line.exitCode;
  }
  let config: Config;
  let warnings: string[];
  try {
    const { defaultProbeDeps, probeCapacity } = await import('./host/probe.js');
    const host = await probeCapacity(defaultProbeDeps());
    ({ config, warnings } = resolveSettings(io.env, line.flags, { host, guestChecks }));
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    // Before any logger exists and before anything is touched: one plain line naming the problem.
    return printAppError(error, io);
  }
  switch (line.command) {
    case 'config':
      for (const warning of warnings) io.printError(`windock: warning: ${warning}`);
      io.print(JSON.stringify(redactConfig(config), null, 2));
      return EXIT_CODES.ok;
    case 'unattend':
      return printAnswerFile(config, line.showSecrets === true, io);
    case 'unattend':
      return printAnswerFile(config, line.showSecrets === true, io);
    case 'health':
      return checkHealth(line.healthUrl ?? `http://127.0.0.1:${config.webPort}/health`, io);
    case 'snapshot':
    case 'reset':
    case 'export': {
      const { runLabCommand } = await import('./lab/lab-commands.js');
      return runLabCommand(line.command, line.lab ?? { discardChanges: false }, config, io);
    }
    case 'run': {
      const log = createLogger({
        level: config.debug ? 'debug' : 'info',
        pretty: config.logFormat === 'pretty' || (config.logFormat === undefined && io.stdoutIsTty),
      });
      log.info({ version: VERSION, config: redactConfig(config) }, 'windock starting');
      for (const warning of warnings) log.warn({ warning }, 'a setting is read differently from how it is written');
      const { runApp } = await import('./app.js');
      return runApp({ config, log, stop: io.stop });
    }
  }
}

/** The settings checks of the guest the settings describe: Windows unless BOOT names an image. */
function guestChecks(config: Config): AppError[] {
  return config.boot ? plainProfile.checkSettings(config) : checkWindowsSettings(config);
}

/** Before any logger exists: one plain line naming the problem, and its exit code. */
function printAppError(error: AppError, io: CommandIo): number {
  io.printError(`windock: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}`);
  return error.exitCode;
}

/** `windock unattend`: the answer file a new disk would get; a config error (exit 2) when there is none. */
async function printAnswerFile(config: Config, showSecrets: boolean, io: CommandIo): Promise<number> {
  try {
    const { previewAnswerFile } = await import('./windows/answer-input.js');
    const { DEFAULT_DRIVER_DIR, driversAvailable } = await import('./windows/windows-stage.js');
    const { resolveVersion } = await import('./windows/catalog.js');
    const resolved = config.boot ? undefined : resolveVersion(config.version);
    const drivers = resolved?.kind === 'catalog' && (await driversAvailable(DEFAULT_DRIVER_DIR, resolved.entry.virtioOs, resolved.entry.arch));
    io.print(await previewAnswerFile(config, { showSecrets, driversAvailable: drivers === true }));
    return EXIT_CODES.ok;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return printAppError(error, io);
  }
}

/** Exit 0 when the endpoint answers 200 within a few seconds; Docker marks the container healthy. */
async function checkHealth(url: string, io: CommandIo): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const body = await response.text();
    (response.ok ? io.print : io.printError)(body);
    return response.status === 200 ? EXIT_CODES.ok : 1;
  } catch (error) {
    io.printError(`windock health: ${url} did not answer: ${(error as Error).message}`);
    return 1;
  }
}
