/**
 * Startup that does not fail for good: a step that fails is tried again with backoff (on the test's clock) while
 * readiness says which and why, until it succeeds or the daemon shuts down.
 */
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Readiness } from '../../../src/api/readiness.js';
import { retryUntilDone } from '../../../src/daemon/startup.js';
import { EngineUnavailableError } from '../../../src/engine/engine-errors.js';
import { FakeEngine } from '../../support/fake-engine.js';
import { Lifecycle } from '../lifecycle/harness.js';

const logger = pino({ level: 'silent' });

afterEach(() => {
  vi.useRealTimers();
});

describe('retryUntilDone', () => {
  it('tries again after 1 s, then 2 s, reporting why, until the step succeeds', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const reports: (string | null)[] = [];
    let calls = 0;
    const step = (): Promise<void> => (++calls < 3 ? Promise.reject(new Error(`no ${calls}`)) : Promise.resolve());
    const done = retryUntilDone('loading the workspaces', step, { logger, signal: new AbortController().signal, report: (p) => reports.push(p) });
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(2000);
    await done;
    expect(calls).toBe(3);
    expect(reports).toEqual(['loading the workspaces failed (attempt 1, next in 1 s): no 1', 'loading the workspaces failed (attempt 2, next in 2 s): no 2', null]);
  });

  it('gives up, rejecting, when the daemon shuts down during the wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const shutdown = new AbortController();
    const done = retryUntilDone('x', () => Promise.reject(new Error('down')), { logger, signal: shutdown.signal, report: () => undefined });
    const outcome = expect(done).rejects.toThrow('down');
    await vi.advanceTimersByTimeAsync(10);
    shutdown.abort();
    await outcome;
  });

  it('loads the workspaces once the engine answers the list it failed, and readiness says why meanwhile', async () => {
    const t = await Lifecycle.create();
    try {
      t.engine.fail('listContainers', new EngineUnavailableError('container list', 'request timed out or was aborted'));
      let problem: string | null = null;
      const readiness = new Readiness(new FakeEngine(), { cvmEnabled: false, cvmRuntime: 'sysbox-runc', started: () => false, startupProblem: () => problem });
      let firstReport: () => void = () => undefined;
      const reported = new Promise<void>((resolve) => (firstReport = resolve));
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const report = (p: string | null): void => {
        problem = p;
        firstReport();
      };
      const done = retryUntilDone('loading the workspaces', () => t.manager.init(), { logger, signal: new AbortController().signal, report });
      await reported;
      expect(await readiness.reasons()).toEqual([
        'workspaces not loaded yet',
        'loading the workspaces failed (attempt 1, next in 1 s): container list: request timed out or was aborted',
      ]);
      await vi.advanceTimersByTimeAsync(1000);
      await done;
      expect(problem).toBeNull();
      expect(t.manager.list()).toEqual([]);
    } finally {
      vi.useRealTimers();
      await t.cleanup();
    }
  });
});
