import { describe, expect, it } from 'vitest';
import { StopRequestedError, StopRequests } from '../../../src/supervisor/stop-requests.js';

describe('StopRequests', () => {
  it('a first request is graceful, a second one hard', () => {
    const stop = new StopRequests();
    stop.request('SIGTERM');
    expect([stop.graceful.aborted, stop.hard.aborted, stop.requested]).toEqual([true, false, true]);
    expect(stop.graceful.reason).toBeInstanceOf(StopRequestedError);
    stop.request('SIGINT');
    expect(stop.hard.aborted).toBe(true);
    expect(stop.failure).toBeUndefined();
  });

  it('a failure stops gracefully and is not a user request: the next request is still a first one', () => {
    const stop = new StopRequests();
    const error = new Error('dnsmasq exited');
    stop.fail(error);
    expect([stop.graceful.aborted, stop.hard.aborted, stop.requested]).toEqual([true, false, true]);
    expect(String((stop.graceful.reason as Error).message)).toContain('dnsmasq exited');
    stop.request('SIGTERM');
    expect(stop.hard.aborted).toBe(false);
    stop.request('SIGTERM');
    expect(stop.hard.aborted).toBe(true);
    expect(stop.failure).toBe(error);
  });

  it('keeps the first failure and the first request\'s reason', () => {
    const stop = new StopRequests();
    stop.request('SIGTERM');
    stop.fail(new Error('first'));
    stop.fail(new Error('second'));
    expect(stop.failure?.message).toBe('first');
    expect(String((stop.graceful.reason as Error).message)).toContain('SIGTERM');
  });
});
