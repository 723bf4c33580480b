import { describe, expect, it } from 'vitest';
import { downloadProgressTo, StatusStore, type DownloadProgress } from '../../../src/supervisor/status.js';

describe('downloadProgressTo', () => {
  it('shows a download in flight as the downloading phase, and the end of it as preparing again', () => {
    const status = new StatusStore();
    const phases: string[] = [];
    status.subscribe((s) => phases.push(`${s.phase}:${s.download?.bytesDone ?? '-'}`));
    const report = downloadProgressTo(status);
    const progress: DownloadProgress = { file: 'x.iso', bytesDone: 10, bytesTotal: 100, bytesPerSecond: 5, etaSeconds: 18 };
    report(progress);
    report({ ...progress, bytesDone: 100, etaSeconds: 0 });
    expect(status.snapshot.download).toEqual({ ...progress, bytesDone: 100, etaSeconds: 0 });
    report(undefined);
    expect(phases).toEqual(['downloading:10', 'downloading:100', 'preparing:-']);
    expect(status.snapshot.download).toBeUndefined();
  });
});
