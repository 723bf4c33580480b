/**
 * The supervisor's lifecycle as an explicit transition table (house rule 5): a move that is not
 * listed is a bug, and throws instead of leaving /health reporting something impossible.
 */
import type { Phase } from './status.js';

export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  preparing: ['downloading', 'starting', 'stopping', 'stopped', 'failed'],
  // A download ends back in preparing (disk creation follows), or is cut short by a stop.
  downloading: ['preparing', 'starting', 'stopping', 'stopped', 'failed'],
  starting: ['running', 'stopping', 'stopped', 'failed'],
  // running → stopped: the guest powered itself off.
  running: ['stopping', 'stopped', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

/** Every phase, in the table's order (the order /metrics lists them in). */
export const PHASES = Object.keys(TRANSITIONS) as readonly Phase[];

export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(
    readonly from: Phase,
    readonly to: Phase,
  ) {
    super(`illegal lifecycle move ${from} → ${to}`);
  }
}

export function assertTransition(from: Phase, to: Phase): void {
  if (from !== to && !TRANSITIONS[from].includes(to)) throw new IllegalTransitionError(from, to);
}
