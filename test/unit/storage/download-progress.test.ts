/** Progress reports through the callback: throttled, with the rate over recent samples and an ETA. */
import { describe, expect, it } from 'vitest';
import { ProgressReporter, type DownloadProgress } from '../../../src/storage/download/progress.js';
import { makeContext } from './context.js';

function reporter(logEveryPercent = 5) {
  const ctx = makeContext({});
  let now = 0;
  const seen: DownloadProgress[] = [];
  const progress = new ProgressReporter('f.iso', { logEveryPercent, checkpointBytes: 100 }, () => now, ctx.log, (p) => seen.push(p));
  return { progress, seen, lines: ctx.lines, advance: (ms: number) => (now += ms) };
}

describe('ProgressReporter', () => {
  it('reports at most every 250 ms within a log step, and always at a new step and at the end', () => {
    const t = reporter();
    t.progress.update(10, 1000);
    t.advance(100);
    t.progress.update(20, 1000); // same 5 % step, 100 ms later: skipped
    t.advance(200);
    t.progress.update(30, 1000); // 300 ms after the last report
    t.progress.update(60, 1000); // a new step (5 %) at once
    t.progress.update(1000, 1000); // the end at once
    expect(t.seen.map((p) => p.bytesDone), JSON.stringify(t.seen)).toEqual([10, 30, 60, 1000]);
    expect(t.lines.filter((l) => l.msg === 'downloading').map((l) => l.percent)).toEqual([1, 6, 100]);
  });

  it('measures the rate between samples and gives an ETA only with a size', () => {
    const t = reporter();
    t.progress.update(0, 10_000);
    t.advance(1000);
    t.progress.update(1000, 10_000);
    expect(t.seen.at(-1)).toEqual({ file: 'f.iso', bytesDone: 1000, bytesTotal: 10_000, bytesPerSecond: 1000, etaSeconds: 9 });
    t.advance(1000);
    t.progress.update(3000, undefined);
    expect(t.seen.at(-1)).toMatchObject({ bytesTotal: undefined, etaSeconds: undefined, bytesPerSecond: 1500 });
  });

  it('logs every 10 checkpoints when the size is unknown', () => {
    const t = reporter();
    for (let done = 0; done <= 3000; done += 250) {
      t.advance(300);
      t.progress.update(done, undefined);
    }
    expect(t.lines.filter((l) => l.msg === 'downloading').map((l) => l.bytesDone)).toEqual([0, 1000, 2000, 3000]);
  });
});
