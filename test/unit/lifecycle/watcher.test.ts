/**
 * The death watcher over the fake engine's event stream: deaths are reported once, a broken stream reconnects with
 * backoff from where it left off (on the test's clock), and the engine answering again cuts the backoff short.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WORKSPACE_LABEL } from '../../../src/container/labels.js';
import type { EventsOptions } from '../../../src/engine/types.js';
import { type ContainerDeath, ContainerWatcher } from '../../../src/lifecycle/watcher.js';
import { FakeEngine } from '../../support/fake-engine.js';

let engine: FakeEngine;
let deaths: ContainerDeath[];
let lost: number;
let watcher: ContainerWatcher;

async function running(name: string, labels: Record<string, string>): Promise<string> {
  const id = await engine.createContainer({ name, Image: 'img', Labels: labels, HostConfig: {} });
  await engine.startContainer(id);
  return id;
}

/** Lets the watcher's loop take every step it can without the clock moving. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  engine = new FakeEngine();
  engine.addImage('img');
  deaths = [];
  lost = 0;
  watcher = new ContainerWatcher(
    engine,
    undefined,
    (death) => deaths.push(death),
    pino({ level: 'silent' }),
    () => {
      lost += 1;
    },
    1000,
  );
});

afterEach(async () => {
  await watcher.stop();
  vi.useRealTimers();
});

describe('ContainerWatcher', () => {
  it('reports the deaths of workspace containers only, asking the engine for exactly those', async () => {
    const ws = await running('cvm-a', { [WORKSPACE_LABEL]: 'a' });
    const other = await running('other', {});
    watcher.start();
    await settle();
    engine.die(ws, 3);
    engine.die(other, 1);
    await settle();
    expect(deaths).toEqual([{ workspaceId: 'a', containerId: ws }]);
    const [options] = engine.callsOf('events')[0] as [EventsOptions];
    expect(options.filters).toEqual({ type: ['container'], event: ['die'], label: [WORKSPACE_LABEL] });
  });

  it('after a broken stream, reconnects with backoff from the last event and reports nothing twice', async () => {
    const a = await running('cvm-a', { [WORKSPACE_LABEL]: 'a' });
    const b = await running('cvm-b', { [WORKSPACE_LABEL]: 'b' });
    watcher.start();
    await settle();
    engine.die(a);
    await settle();
    engine.breakEvents();
    await settle();
    expect(lost).toBe(1);
    // Dies while nobody listens: the reconnect's `since` replays it (and replays a's death, which is not reported again).
    engine.die(b);
    expect(engine.callsOf('events')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1999);
    expect(engine.callsOf('events')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(engine.callsOf('events')).toHaveLength(2);
    expect(deaths.map((d) => d.workspaceId)).toEqual(['a', 'b']);
  });

  it('backs off longer while the engine stays down, and reconnects at once when told the engine answers', async () => {
    engine.down = true;
    watcher.start();
    await settle();
    await vi.advanceTimersByTimeAsync(2000);
    await vi.advanceTimersByTimeAsync(4000);
    expect(engine.callsOf('events')).toHaveLength(3);
    expect(lost).toBe(3);
    engine.down = false;
    watcher.reconnectNow();
    await settle();
    expect(engine.callsOf('events')).toHaveLength(4);
    const a = await running('cvm-a', { [WORKSPACE_LABEL]: 'a' });
    engine.die(a);
    await settle();
    expect(deaths).toHaveLength(1);
  });

  it('stop ends the stream and the loop', async () => {
    watcher.start();
    await settle();
    await watcher.stop();
    const a = await running('cvm-a', { [WORKSPACE_LABEL]: 'a' });
    engine.die(a);
    await settle();
    expect(deaths).toEqual([]);
  });
});
