import { describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/engine/engine-errors.js';
import { cachingInfo } from '../../../src/engine/info-cache.js';
import { FakeEngine } from '../../support/fake-engine.js';

/** A clock the test moves. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

describe('cachingInfo: the engine is asked for /info at most once per max age', () => {
  it('reuses an answer younger than the max age and asks again once it is that old', async () => {
    const fake = new FakeEngine();
    const time = clock();
    const engine = cachingInfo(fake, 10_000, time.now);
    await engine.info();
    time.advance(9_999);
    fake.runtimes = ['runc'];
    expect((await engine.info()).runtimes).toEqual(['runc', 'sysbox-runc']);
    expect(fake.callsOf('info')).toHaveLength(1);
    time.advance(1);
    expect((await engine.info()).runtimes).toEqual(['runc']);
    expect(fake.callsOf('info')).toHaveLength(2);
  });

  it('callers at the same time share one request', async () => {
    const fake = new FakeEngine();
    const engine = cachingInfo(fake, 10_000, clock().now);
    const gate = fake.hold('info');
    const both = Promise.all([engine.info(), engine.info()]);
    await gate.reached;
    gate.release();
    await both;
    expect(fake.callsOf('info')).toHaveLength(1);
  });

  it('never keeps a failure: the next call asks the engine again', async () => {
    const fake = new FakeEngine();
    const engine = cachingInfo(fake, 10_000, clock().now);
    fake.fail('info', new EngineError('info', null, 'down'));
    await expect(engine.info()).rejects.toThrow('down');
    await expect(engine.info()).resolves.toMatchObject({ runtimes: ['runc', 'sysbox-runc'] });
    expect(fake.callsOf('info')).toHaveLength(2);
  });

  it('forgetInfo (the engine restarted) makes the next call ask again', async () => {
    const fake = new FakeEngine();
    const engine = cachingInfo(fake, 10_000, clock().now);
    await engine.info();
    engine.forgetInfo();
    await engine.info();
    expect(fake.callsOf('info')).toHaveLength(2);
  });

  it('passes every other call through to the engine', async () => {
    const fake = new FakeEngine();
    const engine = cachingInfo(fake, 10_000, clock().now);
    await engine.ping();
    await engine.ping();
    expect(fake.callsOf('ping')).toHaveLength(2);
  });
});
