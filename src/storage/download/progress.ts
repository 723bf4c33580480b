/**
 * How far a download is: a report through the caller's callback at most every 250 ms (and at
 * each log step and at the end), and a log line every `logEveryPercent` percent (every 10
 * checkpoints when the size is unknown). The rate is measured over the last few seconds.
 * The download does not know where the report goes; the caller wires it (to the status, /health).
 */
import type { Logger } from '../../core/log.js';
import type { DownloadProgress } from '../../supervisor/status.js';

export type { DownloadProgress };

export interface ProgressSettings {
  logEveryPercent: number;
  checkpointBytes: number;
}

export class ProgressReporter {
  #lastLoggedStep = -1;
  #lastReportAt = -Infinity;
  #rate = new RateMeter();

  constructor(
    readonly file: string,
    readonly settings: ProgressSettings,
    readonly now: () => number,
    readonly log: Logger,
    readonly onProgress: (progress: DownloadProgress) => void,
  ) {}

  /** `done` bytes of `total` (undefined: the server did not say) are in the part. */
  update(done: number, total: number | undefined): void {
    const now = this.now();
    const percentStep = total ? Math.floor((done / total) * 100 / this.settings.logEveryPercent) : Math.floor(done / (this.settings.checkpointBytes * 10));
    const complete = total !== undefined && done === total;
    if (now - this.#lastReportAt < 250 && percentStep === this.#lastLoggedStep && !complete) return;
    this.#lastReportAt = now;
    this.#rate.add(now, done);
    const rate = this.#rate.bytesPerSecond();
    const progress: DownloadProgress = {
      file: this.file,
      bytesDone: done,
      bytesTotal: total,
      bytesPerSecond: Math.round(rate),
      etaSeconds: total !== undefined && rate > 0 ? Math.round((total - done) / rate) : undefined,
    };
    this.onProgress(progress);
    if (percentStep === this.#lastLoggedStep) return;
    this.#lastLoggedStep = percentStep;
    this.log.info({ ...progress, percent: total ? Math.floor((done / total) * 100) : undefined }, 'downloading');
  }
}

/** Rate over the last few seconds (a sliding window of samples). */
export class RateMeter {
  #samples: { at: number; bytes: number }[] = [];
  add(at: number, bytes: number): void {
    this.#samples.push({ at, bytes });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > 5000) this.#samples.shift();
  }
  bytesPerSecond(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
}
