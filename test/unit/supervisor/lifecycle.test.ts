import { describe, expect, it } from 'vitest';
import { assertTransition, IllegalTransitionError, PHASES, TRANSITIONS } from '../../../src/supervisor/lifecycle.js';
import { StatusStore, type Phase } from '../../../src/supervisor/status.js';

describe('lifecycle transitions', () => {
  it('allows exactly the listed moves', () => {
    for (const from of PHASES) {
      for (const to of PHASES) {
        const allowed = from === to || TRANSITIONS[from].includes(to);
        if (allowed) expect(() => assertTransition(from, to)).not.toThrow();
        else expect(() => assertTransition(from, to)).toThrow(IllegalTransitionError);
      }
    }
  });

  it("lists every phase once, in the table's order (the /metrics label set)", () => {
    expect(PHASES).toEqual(['preparing', 'downloading', 'starting', 'running', 'stopping', 'stopped', 'failed']);
    expect(new Set(PHASES).size).toBe(Object.keys(TRANSITIONS).length);
  });

  it('has terminal stopped and failed phases', () => {
    expect(TRANSITIONS.stopped).toEqual([]);
    expect(TRANSITIONS.failed).toEqual([]);
  });

  it('the normal life: preparing → starting → running → stopping → stopped', () => {
    const store = new StatusStore();
    for (const phase of ['starting', 'running', 'stopping', 'stopped'] as const) store.update({ phase });
    expect(store.snapshot.phase).toBe('stopped');
  });

  it('the status store refuses an illegal move and keeps its snapshot', () => {
    const store = new StatusStore();
    store.update({ phase: 'starting' });
    expect(() => store.update({ phase: 'downloading' })).toThrow('illegal lifecycle move starting → downloading');
    expect(store.snapshot.phase).toBe('starting');
  });

  it('notifies listeners with the new and previous snapshots, and stamps a phase change', () => {
    let t = 0;
    const store = new StatusStore(() => new Date(1_000 * ++t));
    const seen: [Phase, Phase][] = [];
    store.subscribe((s, p) => seen.push([p.phase, s.phase]));
    store.update({ phase: 'starting' });
    store.update({ guestState: 'running' });
    expect(seen).toEqual([
      ['preparing', 'starting'],
      ['starting', 'starting'],
    ]);
    expect(store.snapshot.since).toBe(new Date(2_000).toISOString());
  });
});
