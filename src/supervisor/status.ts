/**
 * The supervisor's public state: one snapshot, replaced (never mutated) on every change, so that
 * /health, /metrics and the viewer's progress page read it without ever waiting on QEMU.
 */
import { assertTransition } from './lifecycle.js';

export type Phase = 'preparing' | 'downloading' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface DownloadProgress {
  /** File name under STORAGE (never the URL: a URL may carry a token in its query). */
  file: string;
  bytesDone: number;
  /** Unknown until the server tells (no Content-Length). */
  bytesTotal: number | undefined;
  bytesPerSecond: number;
  etaSeconds: number | undefined;
}

export interface StatusSnapshot {
  phase: Phase;
  /** ISO time the phase began. */
  since: string;
  /** QMP `query-status` / event view of the guest: "running", "paused", "shutdown", ... */
  guestState: string | undefined;
  guestAddress: string | undefined;
  /** The guest answers on READY_PORT. */
  guestReachable: boolean;
  qemuPid: number | undefined;
  download: DownloadProgress | undefined;
  error: { code: string; message: string } | undefined;
}

export type StatusListener = (snapshot: StatusSnapshot, previous: StatusSnapshot) => void;

/** What a reader of the status gets (stages, /health, the viewer): the snapshot and change notices, no way to write. */
export interface StatusView {
  readonly snapshot: StatusSnapshot;
  subscribe(listener: StatusListener): () => void;
}

export class StatusStore implements StatusView {
  #snapshot: StatusSnapshot;
  readonly #listeners = new Set<StatusListener>();

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
    this.#snapshot = {
      phase: 'preparing',
      since: now().toISOString(),
      guestState: undefined,
      guestAddress: undefined,
      guestReachable: false,
      qemuPid: undefined,
      download: undefined,
      error: undefined,
    };
  }

  readonly #now: () => Date;

  get snapshot(): StatusSnapshot {
    return this.#snapshot;
  }

  update(patch: Partial<Omit<StatusSnapshot, 'since'>>): void {
    const previous = this.#snapshot;
    if (patch.phase !== undefined) assertTransition(previous.phase, patch.phase);
    const phaseChanged = patch.phase !== undefined && patch.phase !== previous.phase;
    this.#snapshot = Object.freeze({
      ...previous,
      ...patch,
      since: phaseChanged ? this.#now().toISOString() : previous.since,
    });
    for (const listener of this.#listeners) listener(this.#snapshot, previous);
  }

  subscribe(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * A download's progress callback (storage/download.ts) that keeps the status current: the phase
 * is `downloading` while bytes flow and `preparing` again once the file is complete.
 */
export function downloadProgressTo(status: StatusStore): (progress: DownloadProgress | undefined) => void {
  return (download) => status.update(download ? { phase: 'downloading', download } : { phase: 'preparing', download: undefined });
}
