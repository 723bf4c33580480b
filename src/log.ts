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
  const destination =
    options.destination ??
    (options.pretty ? prettyStream() : pino.destination({ dest: 1, sync: true }));
  // Synchronous destinations: the last lines before process exit (the reason why) are never lost.
  return pino(settings, destination);
}

function prettyStream(): DestinationStream {
  // Loaded only when asked for: JSON logging (the container's default) never pays for the import.
  const require = createRequire(import.meta.url);
  const pretty = require('pino-pretty') as (opts: object) => DestinationStream;
  return pretty({ colorize: true, sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name' });
}
