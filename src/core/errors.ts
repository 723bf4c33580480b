/**
 * One error type for everything windock reports to a user. The code decides the process exit
 * code (the contract's table in DESIGN.md); the message names the thing, the value and what was
 * expected; the hint says how to fix it.
 */
export type ErrorCode = 'internal' | 'config' | 'host' | 'media' | 'qemu' | 'forced-stop';

export const EXIT_CODES: Readonly<Record<ErrorCode | 'ok', number>> = {
  ok: 0,
  internal: 1,
  config: 2,
  host: 3,
  media: 4,
  qemu: 5,
  'forced-stop': 6,
};

export interface AppErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Structured facts for the log line (never secrets). */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** `NAME must look like "4G", got "4 gigs"` — the house form of a configuration error. */
export function invalidSetting(name: string, value: string, expected: string, hint?: string): AppError {
  return new AppError('config', `${name} must be ${expected}, got ${JSON.stringify(value)}`, {
    hint,
    details: { variable: name, value, expected },
  });
}

export function exitCodeOf(error: unknown): number {
  return error instanceof AppError ? error.exitCode : EXIT_CODES.internal;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
