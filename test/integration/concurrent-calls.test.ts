/**
 * Calls that race on one workspace, and an engine that stops answering, in-process (createManager with its real
 * collaborators) against the test engine. Regressions found by drills R5 (concurrent random calls) and R2 (engine
 * restarts); the drills themselves run in test/integration/drills.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineUnavailableError } from '../../src/engine/engine-errors.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { CVM_RUNTIME, docker, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, inspectRaw, ManagerHarness } from '../support/manager.js';

const busybox: WorkspaceSpec = { image: BUSYBOX_IMAGE, pullPolicy: 'never' };

describe('racing calls and engine outages (manager against the test engine)', () => {
  let h: ManagerHarness;

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME] });
    h = await ManagerHarness.create('race');
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it('two PUTs of a new workspace at once: one creates it, the other replaces its spec; one container', async () => {
    const id = h.id('twin');
    const [a, b] = await Promise.all([h.manager.put(id, busybox), h.manager.put(id, busybox)]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    await h.waitFor(id, 'running');
    await h.manager.idle();
    expect(await containersOfWorkspace(id)).toHaveLength(1);
  });

  it('calls made back to back without waiting take effect in the order made, in memory and on disk', { timeout: 60_000 }, async () => {
    const up = h.id('up');
    const down = h.id('down');
    await Promise.all([h.manager.put(up, busybox), h.manager.put(down, busybox)]);
    await Promise.all([h.waitFor(up, 'running'), h.waitFor(down, 'running')]);
    for (let round = 0; round < 5; round++) {
      await Promise.all([h.manager.stop(up), h.manager.start(up), h.manager.start(down), h.manager.stop(down)]);
      await h.manager.idle();
      expect([h.manager.get(up).phase, h.manager.get(down).phase]).toEqual(['running', 'stopped']);
    }
    // What was stored is what a restarted daemon converges to.
    await h.manager.shutdown('keep');
    h.manager = h.newManager();
    await h.manager.init();
    await h.manager.idle();
    expect([h.manager.get(up).phase, h.manager.get(down).phase]).toEqual(['running', 'stopped']);
  });

  // The shared test engine cannot be restarted here: its adapter stands in for one that stops answering (drill R2
  // restarts a private dockerd for real). The event stream stays up, so the death is seen while inspecting fails.
  it('a workspace that died while the engine did not answer runs again once it answers', { timeout: 60_000 }, async () => {
    const id = h.id('outage');
    await h.manager.put(id, busybox);
    await h.waitFor(id, 'running');
    const engine = h.engine;
    const real = { inspect: engine.inspectContainer.bind(engine), ping: engine.ping.bind(engine) };
    let down = true;
    engine.inspectContainer = (ref) => (down ? Promise.reject(new EngineUnavailableError('container inspect', 'ECONNREFUSED')) : real.inspect(ref));
    engine.ping = (timeoutMs) => (down ? Promise.reject(new EngineUnavailableError('ping', 'ECONNREFUSED')) : real.ping(timeoutMs));
    try {
      await docker(['kill', `cvm-${id}`]);
      const failed = await h.waitFor(id, 'failed');
      expect(failed.reason).toBe('EngineUnavailable');
      down = false;
      await h.waitFor(id, 'running', 10_000);
      expect(((await inspectRaw(`cvm-${id}`)) as unknown as { State: { Running: boolean } }).State.Running).toBe(true);
    } finally {
      down = false;
    }
  });
});
