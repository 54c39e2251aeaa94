import { describe, expect, it } from 'vitest';
import { planImageGc } from '../../../src/image/image-gc.js';

const GB = 1024 ** 3;
const candidates = [
  { id: 'new', sizeBytes: 2 * GB, lastUsedMs: 300 },
  { id: 'old', sizeBytes: 1 * GB, lastUsedMs: 100 },
  { id: 'mid', sizeBytes: 3 * GB, lastUsedMs: 200 },
];
const thresholds = { highPercent: 85, lowPercent: 80 };

describe('planImageGc', () => {
  it('does nothing below the high threshold', () => {
    expect(planImageGc({ usedBytes: 84 * GB, totalBytes: 100 * GB }, thresholds, candidates)).toEqual([]);
  });

  it('removes least recently used first, only until the low threshold is reached', () => {
    // 86 % used: 6 GB must go; old (1) + mid (3) = 4 is not enough, new (2) makes 6.
    expect(planImageGc({ usedBytes: 86 * GB, totalBytes: 100 * GB }, thresholds, candidates).map((c) => c.id)).toEqual(['old', 'mid', 'new']);
    // 85 % used: 5 GB must go; old + mid = 4, then new.
    expect(planImageGc({ usedBytes: 85 * GB, totalBytes: 100 * GB }, thresholds, candidates).map((c) => c.id)).toEqual(['old', 'mid', 'new']);
    // With a low threshold of 84 %, 1 GB must go: the oldest alone.
    expect(planImageGc({ usedBytes: 85 * GB, totalBytes: 100 * GB }, { highPercent: 85, lowPercent: 84 }, candidates).map((c) => c.id)).toEqual(['old']);
  });

  it('can only offer what it has: every candidate when even all of them are not enough', () => {
    expect(planImageGc({ usedBytes: 99 * GB, totalBytes: 100 * GB }, thresholds, candidates)).toHaveLength(3);
    expect(planImageGc({ usedBytes: 99 * GB, totalBytes: 100 * GB }, thresholds, [])).toEqual([]);
  });
});
