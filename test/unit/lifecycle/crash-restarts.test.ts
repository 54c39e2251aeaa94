import { describe, expect, it } from 'vitest';
import { restartBackoffMs, restartDecision } from '../../../src/lifecycle/crash-restarts.js';

describe('restartDecision', () => {
  it.each([
    ['no', 137, false, 'stay-down'],
    ['on-failure', 137, false, 'restart'],
    ['on-failure', 0, false, 'stay-down'],
    ['on-failure', 0, true, 'restart'],
    ['always', 0, false, 'restart'],
  ] as const)('%s exit %i oom %s → %s', (policy, code, oom, want) => {
    expect(restartDecision(policy, code, oom)).toBe(want);
  });
});

describe('restartBackoffMs', () => {
  it('doubles and caps at a minute, with bounded jitter', () => {
    const mid = (): number => 0.5;
    expect([1, 2, 3, 4].map((n) => restartBackoffMs(n, mid))).toEqual([1000, 2000, 4000, 8000]);
    expect(restartBackoffMs(50, mid)).toBe(60_000);
    expect(restartBackoffMs(1, () => 0)).toBe(800);
    expect(restartBackoffMs(1, () => 1)).toBe(1200);
  });
});
