/** The per-workspace state machine (API.md phases), as pure data and functions. */
import type { RestartPolicy } from '../spec/workspace-spec.js';

export const PHASES = ['pending', 'pulling', 'creating', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'] as const;
export type Phase = (typeof PHASES)[number];

/** Forward steps of the operations. */
const FORWARD: Record<Phase, readonly Phase[]> = {
  pending: ['pulling', 'creating', 'starting', 'running'],
  pulling: ['creating'],
  creating: ['starting'],
  starting: ['running'],
  // rebuild: the new image is pulled while the old container still runs.
  running: ['pulling'],
  stopping: [],
  stopped: ['pulling', 'creating', 'starting'],
  failed: ['pulling', 'creating', 'starting'],
  deleting: [],
};

/** Any operation may interrupt any phase but deleting, which is final. */
const INTERRUPTIONS: readonly Phase[] = ['pending', 'stopping', 'stopped', 'failed', 'deleting'];

export function canTransition(from: Phase, to: Phase): boolean {
  if (from === 'deleting') return to === 'deleting';
  return FORWARD[from].includes(to) || INTERRUPTIONS.includes(to);
}

export class TransitionError extends Error {
  constructor(from: Phase, to: Phase) {
    super(`illegal phase transition ${from} → ${to}`);
    this.name = 'TransitionError';
  }
}

/** Decides what to do after PID 1 exited on its own (not by one of our operations). */
export function restartDecision(policy: RestartPolicy, exitCode: number, oomKilled: boolean): 'restart' | 'stay-down' {
  if (policy === 'always') return 'restart';
  if (policy === 'on-failure') return exitCode !== 0 || oomKilled ? 'restart' : 'stay-down';
  return 'stay-down';
}

/** Capped exponential backoff with ±20 % jitter. `random` is injectable for tests. */
export function restartBackoffMs(consecutiveFailures: number, random: () => number = Math.random): number {
  const base = 1000 * 2 ** Math.min(Math.max(consecutiveFailures - 1, 0), 6);
  const capped = Math.min(base, 60_000);
  return Math.round(capped * (0.8 + 0.4 * random()));
}
