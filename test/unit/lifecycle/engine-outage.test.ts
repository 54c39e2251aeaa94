/**
 * Recovery from an engine outage over the fake engine, on the test clock: an operation cut short by an unreachable
 * engine is redone once it answers, and deaths lost with a broken event stream are found by the resync.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Lifecycle } from './harness.js';

let t: Lifecycle;

beforeEach(async () => {
  t = await Lifecycle.create();
  await t.manager.init();
});
afterEach(async () => {
  vi.useRealTimers();
  await t.cleanup();
});

const fakeClock = (): void => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
};

describe('engine outage', () => {
  it('a create cut short by an unreachable engine is redone once the engine answers', async () => {
    fakeClock();
    t.engine.down = true;
    await t.put('ws1');
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'failed', reason: 'EngineUnavailable' });
    // Still down at the next ping: nothing is redone.
    await vi.advanceTimersByTimeAsync(500);
    expect(t.manager.get('ws1').phase).toBe('failed');
    t.engine.down = false;
    await vi.advanceTimersByTimeAsync(500);
    await t.until('ws1', 'running');
    expect(t.engine.callsOf('createContainer')).toHaveLength(1);
  });

  it('after a broken event stream, a death the restarted engine forgot is found and the workspace converges again', async () => {
    await t.put('ws1');
    await t.put('ws2');
    fakeClock();
    // The engine restarts: the stream breaks, ws1's container died meanwhile, and the engine forgot its events.
    t.engine.breakEvents();
    t.engine.die('cvm-ws1', 137);
    t.engine.forgetEvents();
    await vi.advanceTimersByTimeAsync(500);
    await t.untilLogged('ws1', 'failure: failed: ContainerExited: PID 1 exited with code 137 (the engine restarted)');
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('running');
    // The engine's restart is not the workspace's crash: no restart counted, and ws2 was left alone.
    expect(t.manager.get('ws1').restarts).toBe(0);
    expect(t.engine.callsOf('startContainer')).toHaveLength(3);
    expect(t.manager.get('ws2').phase).toBe('running');
  });

  it('resyncs once more 3 s later, for an engine that refused work in the middle of its shutdown', async () => {
    await t.put('ws1');
    fakeClock();
    t.engine.breakEvents();
    await vi.advanceTimersByTimeAsync(500);
    const lists = t.engine.callsOf('listContainers').length;
    await vi.advanceTimersByTimeAsync(2_999);
    expect(t.engine.callsOf('listContainers')).toHaveLength(lists);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.engine.callsOf('listContainers')).toHaveLength(lists + 1);
  });

  it('resyncAfterEngineRestart (embedded mode) converges the workspaces that look down', async () => {
    await t.put('ws1');
    fakeClock();
    // The engine restarts behind the watcher's back; the clock stands still, so only the call below resyncs.
    t.engine.breakEvents();
    t.engine.die('cvm-ws1', 137);
    t.engine.forgetEvents();
    await t.manager.resyncAfterEngineRestart();
    await t.untilLogged('ws1', 'failure: failed: ContainerExited: PID 1 exited with code 137 (the engine restarted)');
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('running');
    expect(t.engine.container('cvm-ws1')?.state.running).toBe(true);
    expect(t.manager.get('ws1').restarts).toBe(0);
  });
});
