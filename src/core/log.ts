import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Field paths that may carry secrets; pino replaces their values before a line is written. */
export const REDACT_PATHS = [
  'password',
  'token',
  'webToken',
  'key',
  '*.password',
  '*.token',
  '*.webToken',
  '*.key',
];

export interface LogOptions {
  level: 'debug' | 'info';
  pretty: boolean;
  /** Where lines go; stdout by default. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

export function createLogger(options: LogOptions): Logger {
  const settings = {
    level: options.level,
    base: { name: 'windock' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty = options.destination === undefined && options.pretty ? prettyStream() : undefined;
  // Synchronous destinations: the last lines before process exit (the reason why) are never lost.
  const destination = options.destination ?? (pretty instanceof Error || pretty === undefined ? pino.destination({ dest: 1, sync: true }) : pretty);
  const log = pino(settings, destination);
  if (pretty instanceof Error) log.warn({ err: pretty.message }, 'pretty logs are not available here; writing JSON lines');
  return log;
}

/**
 * pino-pretty is a runtime dependency, loaded only when asked for (JSON logging, the container's
 * default, never pays for the import). A copy without it (a pruned install) still runs: a TTY
 * must never be the reason a VM does not start, so the error is returned and JSON is used.
 */
function prettyStream(): DestinationStream | Error {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (opts: object) => DestinationStream;
    return pretty({ colorize: true, sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name' });
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
