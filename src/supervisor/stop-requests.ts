/**
 * Signals only request; the supervisor acts (house rule 6). The first request aborts `graceful`
 * (a clean ACPI shutdown is wanted); any further request aborts `hard` too (skip to the forced
 * stop). Installed on the first line of main, so a SIGTERM during a download is never lost.
 */
export class StopRequests {
  readonly #graceful = new AbortController();
  readonly #hard = new AbortController();
  #count = 0;

  /** Aborted at the first request: every preparation step and wait listens to it. */
  get graceful(): AbortSignal {
    return this.#graceful.signal;
  }

  /** Aborted at the second request. */
  get hard(): AbortSignal {
    return this.#hard.signal;
  }

  get requested(): boolean {
    return this.#count > 0;
  }

  request(reason: string): void {
    this.#count += 1;
    if (this.#count === 1) this.#graceful.abort(new StopRequestedError(reason));
    else this.#hard.abort(new StopRequestedError(reason));
  }
}

export class StopRequestedError extends Error {
  override name = 'StopRequestedError';
  constructor(readonly reason: string) {
    super(`stop requested (${reason})`);
  }
}
