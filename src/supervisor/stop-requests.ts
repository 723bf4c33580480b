/**
 * Signals only request; the supervisor acts (house rule 6). The first request aborts `graceful`
 * (a clean ACPI shutdown is wanted); any further request aborts `hard` too (skip to the forced
 * stop). Installed on the first line of main, so a SIGTERM during a download is never lost.
 *
 * A failure inside windock (a helper died, an exception nobody caught) stops the VM through the
 * same graceful path, but it is not a user's request: a `docker stop` that follows still counts
 * as the first request, so the guest keeps its full power-button wait instead of being cut off.
 */
export class StopRequests {
  readonly #graceful = new AbortController();
  readonly #hard = new AbortController();
  #count = 0;
  #failure: Error | undefined;

  /**
   * How long a failed run may take to stop the guest before main gives up and exits: the stop
   * ladder's worst case, set by the run once SHUTDOWN_TIMEOUT is known.
   */
  failureBudgetMs = 130_000;

  /** Aborted at the first request or failure: every preparation step and wait listens to it. */
  get graceful(): AbortSignal {
    return this.#graceful.signal;
  }

  /** Aborted at the second request. */
  get hard(): AbortSignal {
    return this.#hard.signal;
  }

  /** A stop was requested by a user or caused by a failure. */
  get requested(): boolean {
    return this.#count > 0 || this.#failure !== undefined;
  }

  /** The first failure that stopped the run, if one did: the run then ends with exit code 1. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  request(reason: string): void {
    this.#count += 1;
    if (this.#count === 1) this.#abortGraceful(new StopRequestedError(reason));
    else this.#hard.abort(new StopRequestedError(reason));
  }

  /** Stops the run because something inside windock failed; later failures add nothing. */
  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#abortGraceful(new StopRequestedError(`internal failure: ${error.message}`));
  }

  #abortGraceful(reason: StopRequestedError): void {
    if (!this.#graceful.signal.aborted) this.#graceful.abort(reason);
  }
}

export class StopRequestedError extends Error {
  override name = 'StopRequestedError';
  constructor(readonly reason: string) {
    super(`stop requested (${reason})`);
  }
}
