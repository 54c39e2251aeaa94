import { describe, expect, it } from 'vitest';
import { digestFor, PullProgress, withDefaultTag } from '../../../src/workspace/image-pull.js';

describe('withDefaultTag', () => {
  it.each([
    ['busybox', 'busybox:latest'],
    ['busybox:1', 'busybox:1'],
    ['127.0.0.1:5000/team/dev', '127.0.0.1:5000/team/dev:latest'],
    ['127.0.0.1:5000/team/dev:2', '127.0.0.1:5000/team/dev:2'],
    ['x@sha256:abc', 'x@sha256:abc'],
  ])('%s → %s', (ref, want) => {
    expect(withDefaultTag(ref)).toBe(want);
  });
});

describe('digestFor', () => {
  it('picks the digest of the named repository', () => {
    const digests = ['other/x@sha256:111', '127.0.0.1:5000/team/dev@sha256:222'];
    expect(digestFor('127.0.0.1:5000/team/dev:2', digests)).toBe('sha256:222');
    expect(digestFor('local/only:1', [])).toBeNull();
  });
});

describe('PullProgress', () => {
  it('aggregates layers and throttles', () => {
    let t = 0;
    const out: [number, number][] = [];
    const p = new PullProgress((d, total) => out.push([d, total]), 250, () => t);
    t = 1000;
    p.update({ layer: 'a', status: 'Downloading', current: 10, total: 100 });
    t = 1100;
    p.update({ layer: 'b', status: 'Downloading', current: 5, total: 50 });
    t = 1300;
    p.update({ layer: 'a', status: 'Pull complete', current: null, total: null });
    expect(out).toEqual([
      [10, 100],
      [105, 150],
    ]);
  });
});
