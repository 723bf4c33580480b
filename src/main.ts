/**
 * The only module that touches `process`: environment, argv, signals, exit. Signal handlers go
 * in before anything heavy is even imported, so that a SIGTERM arriving while windock starts or
 * downloads is a stop request, never a lost signal or an abrupt death (house rule 6).
 *
 * The last-resort handlers are here too. When windock dies, the parent-death signal makes QEMU
 * quit at once — a power cut for the guest — so an exception nobody caught must not end the
 * process: it is logged with its stack and becomes a stop through the normal ladder (the ACPI
 * power button first), and the run then exits with the internal-error code.
 */
import { StopRequests } from './supervisor/stop-requests.js';

/** Exit code of an internal error (errors.ts EXIT_CODES.internal; not imported this early). */
const EXIT_INTERNAL = 1;

export async function main(): Promise<void> {
  const stop = new StopRequests();
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stop.request(signal));
  let fatalErrors = 0;
  const onFatal = (error: unknown): void => {
    fatalErrors += 1;
    const err = error instanceof Error ? error : new Error(`a promise was rejected with ${String(error)}`);
    process.exitCode = EXIT_INTERNAL;
    // stderr, never the log stream: this must work even when the logger is what failed.
    process.stderr.write(`windock: internal error (${fatalErrors}): ${err.stack ?? err.message}\n`);
    stop.fail(err);
    // If the stop itself cannot finish (the bug sits in the ladder's way), leave once the ladder's
    // own worst case has passed; the parent-death signal then stops QEMU.
    if (fatalErrors === 1) setTimeout(() => process.exit(EXIT_INTERNAL), stop.failureBudgetMs).unref();
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);

  // Secrets are read once, then removed from the environment every child process inherits:
  // QEMU, dnsmasq, swtpm or qemu-img have no use for a password, and /proc/PID/environ of a
  // child is readable wherever its uid is.
  const env = { ...process.env };
  const { runCommandLine, SECRET_ENV } = await import('./commands.js');
  for (const name of SECRET_ENV) delete process.env[name];

  const exitCode = await runCommandLine({
    argv: process.argv.slice(2),
    env,
    stdoutIsTty: process.stdout.isTTY === true,
    stop,
    print: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    printError: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  });
  const finalCode = fatalErrors > 0 ? EXIT_INTERNAL : exitCode;
  process.exitCode = finalCode;
  // Leave through the event loop so that pending log writes flush; a stuck handle must not keep
  // a stopped container alive, hence the unref'd backstop.
  setTimeout(() => process.exit(finalCode), 2_000).unref();
}
