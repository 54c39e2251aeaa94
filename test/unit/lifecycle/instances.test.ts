/**
 * Daemons that share one engine (one per workspace pod, all on the node's engine) over ONE fake engine, each with its
 * own state dir and --instance, and a workspace of the same id in both (two namespaces): neither adopts, replaces or
 * removes what the other made (containers, volumes, inspection containers). And the upgrade: what a daemon made
 * before instance labels existed is adopted by the unnamed daemon only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENERATION_LABEL, INSTANCE_LABEL, SPEC_HASH_LABEL, WORKSPACE_LABEL } from '../../../src/container/labels.js';
import { inspectionOwnerFor } from '../../../src/daemon/wiring.js';
import { INSPECTION_LABEL } from '../../../src/image/inspection-container.js';
import { specHash } from '../../../src/spec/spec-hash.js';
import { FakeEngine } from '../../support/fake-engine.js';
import { IMAGE, Lifecycle } from './harness.js';

const ID = 'dev-1';
// Both pods mount their own emptyDir at the same path: only --instance tells them apart.
const STATE_DIR = '/var/lib/cvm-supervisor';
const daemon = (instance: string | undefined, engine?: FakeEngine): Promise<Lifecycle> =>
  Lifecycle.create({ ...(instance !== undefined && { instance }), inspectionOwner: inspectionOwnerFor({ stateDir: STATE_DIR, ...(instance !== undefined && { instance }) }) }, engine);

let a: Lifecycle;
let b: Lifecycle;

beforeEach(async () => {
  a = await daemon('ns-a.dev-1');
  b = await daemon('ns-b.dev-1', a.engine);
  await a.manager.init();
  await b.manager.init();
  await a.put(ID);
  await b.put(ID);
});
afterEach(async () => {
  await a.cleanup();
  await b.cleanup();
});

const containerOf = (t: Lifecycle): string => t.manager.get(ID).containerId ?? '';

describe('two daemons with a workspace of the same id on one engine', () => {
  it('each makes its own container and home volume, named and labelled with its instance', () => {
    expect(a.manager.get(ID).phase).toBe('running');
    expect(b.manager.get(ID).phase).toBe('running');
    expect(containerOf(a)).not.toBe(containerOf(b));
    expect(a.engine.container(containerOf(a))?.spec.name).toBe('cvm-dev-1.ns-a.dev-1');
    expect(a.engine.container(containerOf(b))?.spec.Labels).toMatchObject({ [WORKSPACE_LABEL]: ID, [INSTANCE_LABEL]: 'ns-b.dev-1' });
    expect(a.engine.volumes.get('cvm-dev-1-home.ns-a.dev-1')).toEqual({ [WORKSPACE_LABEL]: ID, [INSTANCE_LABEL]: 'ns-a.dev-1' });
    expect(a.engine.volumes.get('cvm-dev-1-home.ns-b.dev-1')).toEqual({ [WORKSPACE_LABEL]: ID, [INSTANCE_LABEL]: 'ns-b.dev-1' });
  });

  it("a restarted daemon adopts its own container and leaves the other's running", async () => {
    const [mine, theirs] = [containerOf(b), containerOf(a)];
    await b.manager.shutdown('keep');
    const again = b.newManager();
    await again.init();
    await again.idle();
    expect(again.get(ID)).toMatchObject({ phase: 'running', containerId: mine });
    expect(a.engine.container(theirs)?.state.running).toBe(true);
    expect(a.engine.containers.size).toBe(2);
    expect(a.engine.callsOf('removeContainer')).toEqual([]);
  });

  it("one daemon's container dying is not the other's workspace's death", async () => {
    a.engine.die(containerOf(a), 1);
    await a.until(ID, 'failed');
    await b.manager.idle();
    expect(b.manager.get(ID)).toMatchObject({ phase: 'running', restarts: 0 });
  });

  it("a purge removes its own container and volumes and not the other's", async () => {
    const theirs = containerOf(a);
    await b.manager.delete(ID, true);
    await b.manager.idle();
    expect(b.manager.workspace(ID)).toBeUndefined();
    expect([...a.engine.containers.values()].map((c) => c.id)).toEqual([theirs]);
    expect([...a.engine.volumes.keys()]).toEqual(['cvm-dev-1-home.ns-a.dev-1']);
    expect(a.manager.get(ID).phase).toBe('running');
  });

  it('a starting daemon removes only its own inspection leftovers', async () => {
    for (const owner of ['ns-a.dev-1', 'ns-b.dev-1']) {
      await a.engine.createContainer({ name: `cvm-inspect-${owner}`, Image: IMAGE, Labels: { [INSPECTION_LABEL]: owner }, HostConfig: {} });
    }
    await b.manager.shutdown('keep');
    await b.newManager().init();
    expect(a.engine.container('cvm-inspect-ns-a.dev-1')).toBeDefined();
    expect(a.engine.container('cvm-inspect-ns-b.dev-1')).toBeUndefined();
  });
});

describe('containers made before instance labels existed', () => {
  const legacy = async (engine: FakeEngine): Promise<string> => {
    engine.addImage(IMAGE);
    return engine.createContainer({
      name: `cvm-${ID}`,
      Image: IMAGE,
      Labels: { [WORKSPACE_LABEL]: ID, [GENERATION_LABEL]: '1', [SPEC_HASH_LABEL]: specHash({ image: IMAGE }) },
      HostConfig: { Runtime: 'sysbox-runc' },
    });
  };

  it('are adopted by the unnamed daemon, as before, and left alone by a named one', async () => {
    const engine = new FakeEngine();
    const old = await legacy(engine);
    const unnamed = await daemon(undefined, engine);
    const named = await daemon('ns-c.dev-1', engine);
    try {
      await unnamed.manager.init();
      await named.manager.init();
      await unnamed.put(ID);
      await named.put(ID);
      expect(unnamed.manager.get(ID).containerId).toBe(old);
      expect(named.manager.get(ID).containerId).not.toBe(old);
      expect(engine.container(old)?.state.running).toBe(true);
      expect(engine.container(named.manager.get(ID).containerId ?? '')?.spec.name).toBe('cvm-dev-1.ns-c.dev-1');
    } finally {
      await unnamed.cleanup();
      await named.cleanup();
    }
  });
});
