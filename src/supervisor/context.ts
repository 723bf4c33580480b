/**
 * What every stage of a run receives: the resolved settings, a logger, the status store that
 * /health reads, the persisted state file and the stop signal. Passed in, never imported as
 * globals, so that each stage can be tested with its own.
 */
import type { Config } from '../config/options.js';
import type { Logger } from '../core/log.js';
import type { StateFile } from '../state/state-file.js';
import type { DownloadProgress, StatusView } from './status.js';

export interface RunContext {
  config: Config;
  log: Logger;
  /** Read-only: the supervisor writes the status (supervisor.ts); stages return data or report through callbacks. */
  status: StatusView;
  /** A download's progress, for the status (the supervisor's `downloadProgress`); unset: not reported. */
  onDownloadProgress?: (progress: DownloadProgress | undefined) => void;
  state: StateFile;
  /** Aborted when a stop is requested: long preparation (downloads) ends early and cleanly. */
  signal: AbortSignal;
}

/** Something a run built and must take down on exit (links, firewall rules, helper processes). */
export interface Resource {
  readonly name: string;
  /** Idempotent: a second call does nothing. Never throws; logs what it could not remove. */
  close(): Promise<void>;
}
