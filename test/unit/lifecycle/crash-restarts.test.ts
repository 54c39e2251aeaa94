import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffMs } from '../../../src/backoff.js';
import { CRASH_BACKOFF, restartDecision } from '../../../src/lifecycle/crash-restarts.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';
import { Lifecycle } from './harness.js';

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

describe('CRASH_BACKOFF', () => {
  it('doubles and caps at a minute, with bounded jitter', () => {
    const mid = (): number => 0.5;
    expect([1, 2, 3, 4].map((n) => backoffMs(n, CRASH_BACKOFF, mid))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(50, CRASH_BACKOFF, mid)).toBe(60_000);
    expect(backoffMs(1, CRASH_BACKOFF, () => 0)).toBe(800);
    expect(backoffMs(1, CRASH_BACKOFF, () => 1)).toBe(1200);
  });
});

describe('after a death (manager over the fake engine, on the test clock)', () => {
  let t: Lifecycle;

  beforeEach(async () => {
    t = await Lifecycle.create();
    await t.manager.init();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await t.cleanup();
  });

  async function runningThenFakeClock(spec: Partial<WorkspaceSpec> = {}): Promise<void> {
    await t.put('ws1', spec);
    expect(t.manager.get('ws1').phase).toBe('running');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  }

  it('restarts a crashed workspace after its backoff, counting the restart', async () => {
    await runningThenFakeClock();
    t.engine.die('cvm-ws1', 2);
    await t.until('ws1', 'failed');
    expect(t.manager.get('ws1')).toMatchObject({ reason: 'ContainerExited', message: 'PID 1 exited with code 2' });
    // The first backoff is 1 s ± 20 %: nothing before 800 ms.
    await vi.advanceTimersByTimeAsync(799);
    expect(t.manager.get('ws1').phase).toBe('failed');
    await vi.advanceTimersByTimeAsync(401);
    await t.until('ws1', 'running');
    await t.manager.idle();
    expect(t.manager.get('ws1').restarts).toBe(1);
    expect(t.metrics.restarts).toEqual(['ContainerExited']);
  });

  it('backs off longer after each crash in a row, and an OOM kill says so', async () => {
    await runningThenFakeClock();
    t.engine.die('cvm-ws1', 137, true);
    await t.until('ws1', 'failed');
    expect(t.manager.get('ws1').reason).toBe('OOMKilled');
    await vi.advanceTimersByTimeAsync(1200);
    await t.until('ws1', 'running');
    t.engine.die('cvm-ws1', 1);
    await t.until('ws1', 'failed');
    // Second crash in a row: 2 s ± 20 %.
    await vi.advanceTimersByTimeAsync(1599);
    expect(t.manager.get('ws1').phase).toBe('failed');
    await vi.advanceTimersByTimeAsync(801);
    await t.until('ws1', 'running');
    expect(t.metrics.restarts).toEqual(['OOMKilled', 'ContainerExited']);
  });

  it('a clean exit under on-failure is a stop that lasts', async () => {
    await runningThenFakeClock();
    t.engine.die('cvm-ws1', 0);
    await t.until('ws1', 'stopped');
    await t.manager.idle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.manager.get('ws1').phase).toBe('stopped');
    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1').phase).toBe('stopped');
  });

  it('policy no leaves a crashed workspace failed and down', async () => {
    await runningThenFakeClock({ restartPolicy: 'no' });
    t.engine.die('cvm-ws1', 1);
    await t.until('ws1', 'failed');
    await vi.advanceTimersByTimeAsync(120_000);
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('failed');
    expect(t.engine.callsOf('startContainer')).toHaveLength(1);
  });

  it('a stop during the backoff cancels the restart', async () => {
    await runningThenFakeClock();
    t.engine.die('cvm-ws1', 1);
    await t.until('ws1', 'failed');
    await t.manager.stop('ws1');
    await t.manager.idle();
    await vi.advanceTimersByTimeAsync(120_000);
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('stopped');
    expect(t.engine.callsOf('startContainer')).toHaveLength(1);
  });

  it('ignores the death of a container that is no longer the workspace’s', async () => {
    await runningThenFakeClock();
    const old = t.engine.container('cvm-ws1')?.id ?? '';
    await t.manager.rebuild('ws1', { pull: false });
    await t.manager.idle();
    expect(t.engine.container('cvm-ws1')?.id).not.toBe(old);
    expect(t.manager.get('ws1').phase).toBe('running');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.manager.get('ws1').restarts).toBe(0);
  });
});
