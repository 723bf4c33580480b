/** Paths of the executable fixtures under test/fixtures/process/, and a logger that keeps its lines. */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/core/log.js';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'process');

export const fixture = (name: string): string => join(DIR, name);

export function capturingLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger({ level: 'debug', pretty: false, destination }), lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
