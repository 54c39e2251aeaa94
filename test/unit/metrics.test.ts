/**
 * What a scrape costs and how fresh it is: shared renders for scrapes in one event-loop turn, GPU discovery reused,
 * event-loop delay figures computed at most once a window.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuNodeFacts } from '../../src/gpu/discover.js';
import type { GpuNode } from '../../src/gpu/plan.js';
import type { Phase } from '../../src/lifecycle/phase.js';
import { EVENT_LOOP_LAG_MIN_WINDOW_MS, GPU_GAUGE_REUSE_MS, Metrics } from '../../src/metrics.js';

const facts = (driverVersion: string): GpuNodeFacts => ({ unsupported: null, driverVersion, arch: 'x86_64', gpus: [], controlDevices: [], libraries: [], binaries: [], libraryDirs: [] });

afterEach(() => {
  vi.useRealTimers();
});

describe('Metrics.render', () => {
  it('scrapes that arrive in one event-loop turn share one render; a later scrape gets a render of its own, with what changed', async () => {
    const phases: Phase[] = ['running'];
    const readPhases = vi.fn(() => phases);
    const metrics = new Metrics('0.0.0-test', readPhases);
    const burst = await Promise.all([metrics.render(), metrics.render(), metrics.render()]);
    expect(readPhases).toHaveBeenCalledTimes(1);
    expect(new Set(burst).size).toBe(1);
    expect(burst[0]).toContain('cvm_supervisor_workspaces{phase="running"} 1');

    phases.push('running');
    const later = await metrics.render();
    expect(readPhases).toHaveBeenCalledTimes(2);
    expect(later).toContain('cvm_supervisor_workspaces{phase="running"} 2');
  });

  it('a scrape that arrives while a render is under way waits for the next one', async () => {
    let release = (): void => undefined;
    const gpus = vi.fn(
      () =>
        new Promise<GpuNode>((resolve) => {
          release = () => {
            resolve({ enabled: true, facts: facts('550.1') });
          };
        }),
    );
    const readPhases = vi.fn((): Phase[] => []);
    const metrics = new Metrics('0.0.0-test', readPhases, gpus);
    const first = metrics.render();
    await vi.waitFor(() => {
      expect(gpus).toHaveBeenCalledTimes(1); // the first render is collecting
    });
    const second = metrics.render();
    release();
    await Promise.all([first, second]);
    expect(readPhases).toHaveBeenCalledTimes(2);
  });
});

describe('the GPU gauge', () => {
  it(`reuses one discovery for ${GPU_GAUGE_REUSE_MS} ms, then discovers again`, async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    let version = '550.1';
    const gpus = vi.fn(() => Promise.resolve({ enabled: true, facts: facts(version) }));
    const metrics = new Metrics('0.0.0-test', () => [], gpus);
    expect(await metrics.render()).toContain('cvm_supervisor_gpus{driver_version="550.1"} 0');
    version = '560.2';
    vi.advanceTimersByTime(GPU_GAUGE_REUSE_MS - 1);
    expect(await metrics.render()).toContain('driver_version="550.1"');
    expect(gpus).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(await metrics.render()).toContain('cvm_supervisor_gpus{driver_version="560.2"} 0');
    expect(gpus).toHaveBeenCalledTimes(2);
  });

  it('keeps no failed discovery: the next scrape discovers again', async () => {
    const gpus = vi.fn<() => Promise<GpuNode>>().mockRejectedValueOnce(new Error('EIO')).mockResolvedValue({ enabled: true, facts: facts('550.1') });
    const metrics = new Metrics('0.0.0-test', () => [], gpus);
    await expect(metrics.render()).rejects.toThrow('EIO');
    expect(await metrics.render()).toContain('cvm_supervisor_gpus{driver_version="550.1"} 0');
    expect(gpus).toHaveBeenCalledTimes(2);
  });
});

describe('the event-loop delay gauges', () => {
  it(`are computed at most once per ${EVENT_LOOP_LAG_MIN_WINDOW_MS} ms; a scrape in between serves the last figures`, async () => {
    let clock = 0;
    const metrics = new Metrics('0.0.0-test', () => [], undefined, () => clock);
    // prom-client's computation also times one setImmediate and sets nodejs_eventloop_lag_seconds when it fires: a
    // new value (nanosecond resolution) shows that a computation ran.
    const scrapeThenLag = async (): Promise<number> => {
      await metrics.render();
      await new Promise((resolve) => setImmediate(resolve));
      const lag = await metrics.registry.getSingleMetric('nodejs_eventloop_lag_seconds')?.get();
      return lag?.values[0]?.value ?? Number.NaN;
    };
    const first = await scrapeThenLag();
    expect(first).toBeGreaterThan(0);
    clock = EVENT_LOOP_LAG_MIN_WINDOW_MS - 1;
    expect(await scrapeThenLag()).toBe(first);
    clock = EVENT_LOOP_LAG_MIN_WINDOW_MS;
    const next = await scrapeThenLag();
    expect(next).toBeGreaterThan(0);
    expect(next).not.toBe(first);
  });
});
