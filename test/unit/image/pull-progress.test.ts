import { describe, expect, it } from 'vitest';
import { PullProgress } from '../../../src/image/pull-progress.js';

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

describe('PullProgress as the engine streams it', () => {
  it('waits until every layer has a size, never goes back on Extracting, and ends complete', () => {
    let t = 0;
    const out: [number, number][] = [];
    const p = new PullProgress((d, total) => out.push([d, total]), 0, () => (t += 1));
    const line = (layer: string | null, status: string, current: number | null = null, total: number | null = null): void => {
      p.update({ layer, status, current, total });
    };
    line('1', 'Pulling from cvm/busybox');
    line('a', 'Pulling fs layer');
    line('b', 'Pulling fs layer');
    line('a', 'Downloading', 50, 100);
    expect(out).toEqual([]);
    line('b', 'Downloading', 10, 20);
    line('b', 'Download complete');
    line('a', 'Downloading', 100, 100);
    line('a', 'Extracting', 5, 100);
    p.complete();
    expect(out).toEqual([
      [60, 120],
      [70, 120],
      [120, 120],
      [120, 120],
      [120, 120],
    ]);
  });

  it('says nothing while only layers that already exist are known', () => {
    const out: [number, number][] = [];
    const p = new PullProgress((d, total) => out.push([d, total]), 0);
    p.update({ layer: 'base', status: 'Already exists', current: null, total: null });
    expect(out).toEqual([]);
    p.update({ layer: 'new', status: 'Pulling fs layer', current: null, total: null });
    p.update({ layer: 'new', status: 'Downloading', current: 1, total: 4 });
    expect(out).toEqual([[1, 4]]);
  });
});

describe('PullProgress: edges', () => {
  it('emits again once exactly the interval has passed', () => {
    let t = 1000;
    const out: [number, number][] = [];
    const p = new PullProgress((d, total) => out.push([d, total]), 250, () => t);
    p.update({ layer: 'a', status: 'Downloading', current: 10, total: 100 });
    t = 1250;
    p.update({ layer: 'a', status: 'Downloading', current: 20, total: 100 });
    expect(out).toEqual([
      [10, 100],
      [20, 100],
    ]);
  });

  it('counts a layer still downloading as done when the pull completes', () => {
    const out: [number, number][] = [];
    const p = new PullProgress((d, total) => out.push([d, total]), 250, () => 0);
    p.update({ layer: 'a', status: 'Downloading', current: 10, total: 100 });
    p.complete();
    expect(out.at(-1)).toEqual([100, 100]);
    expect(p.bytesDone()).toBe(100);
  });
});
