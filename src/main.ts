/**
 * The only module that touches `process`: environment, argv, signals, exit. Signal handlers go
 * in before anything heavy is even imported, so that a SIGTERM arriving while windock starts or
 * downloads is a stop request, never a lost signal or an abrupt death (house rule 6).
 */
import { StopRequests } from './supervisor/stop-requests.js';

export async function main(): Promise<void> {
  const stop = new StopRequests();
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stop.request(signal));

  const { runCommandLine } = await import('./commands.js');
  const exitCode = await runCommandLine({
    argv: process.argv.slice(2),
    env: process.env,
    stdoutIsTty: process.stdout.isTTY === true,
    stop,
    print: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    printError: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  });
  process.exitCode = exitCode;
  // Leave through the event loop so that pending log writes flush; a stuck handle must not keep
  // a stopped container alive, hence the unref'd backstop.
  setTimeout(() => process.exit(exitCode), 2_000).unref();
}
