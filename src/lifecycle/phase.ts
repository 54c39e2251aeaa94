/** The per-workspace state machine (API.md phases), as pure data and functions. */

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

/**
 * Any operation may interrupt any phase but deleting, which only a failed delete leaves (and a retried delete
 * enters again). A create begins with a pull whatever phase an operation it replaced left behind (a rebuild asked
 * for during a pull cancels that pull mid-way).
 */
const INTERRUPTIONS: readonly Phase[] = ['pending', 'pulling', 'stopping', 'stopped', 'failed', 'deleting'];

export function canTransition(from: Phase, to: Phase): boolean {
  if (from === 'deleting') return to === 'deleting' || to === 'failed';
  return FORWARD[from].includes(to) || INTERRUPTIONS.includes(to);
}

export class TransitionError extends Error {
  constructor(from: Phase, to: Phase) {
    super(`illegal phase transition ${from} → ${to}`);
    this.name = 'TransitionError';
  }
}
