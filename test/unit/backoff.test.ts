import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/backoff.js';

describe('backoffMs', () => {
  it('doubles from the base and stops at the cap', () => {
    const backoff = { baseMs: 1000, maxMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 10, 5000].map((n) => backoffMs(n, backoff))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(backoffMs(0, backoff)).toBe(1000);
  });

  it('scales by a random factor within its spread', () => {
    const backoff = { baseMs: 1000, maxMs: 10_000, spread: [0.5, 1] as const };
    expect([1, 2, 5].map((n) => backoffMs(n, backoff, () => 0))).toEqual([500, 1000, 5000]);
    expect([1, 2, 5].map((n) => backoffMs(n, backoff, () => 1))).toEqual([1000, 2000, 10_000]);
    expect(backoffMs(3, backoff, () => 0.5)).toBe(3000);
  });
});
