/**
 * Two daemons (--instance) on the test engine with a workspace of the same id, as two workspace pods in two
 * namespaces on one node: each makes, adopts and removes only its own container, home volume and inspection
 * containers. The fake-engine twin is test/unit/lifecycle/instances.test.ts; this shows the real engine's names,
 * labels and filters agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_LABEL, WORKSPACE_LABEL } from '../../src/container/labels.js';
import { INSPECTION_LABEL } from '../../src/image/inspection-container.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { CVM_RUNTIME, docker, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { inspectRaw, ManagerHarness, volumesOfWorkspace } from '../support/manager.js';

interface Raw {
  Name: string;
  State: { Running: boolean };
  Config: { Labels: Record<string, string> };
}
const raw = async (nameOrId: string): Promise<Raw> => (await inspectRaw(nameOrId)) as unknown as Raw;

describe('two daemons with a workspace of the same id on one engine', () => {
  let a: ManagerHarness;
  let b: ManagerHarness;
  let id: string;
  const leftovers: string[] = [];
  const made: ManagerHarness[] = [];
  const spec: WorkspaceSpec = { image: BUSYBOX_IMAGE, pullPolicy: 'never' };

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME] });
    a = await ManagerHarness.create('inst', { flags: ['--instance', 'ns-a'] });
    made.push(a);
    b = await ManagerHarness.create('inst', { flags: ['--instance', 'ns-b'], idsOf: a });
    made.push(b);
    id = a.id('dev');
    expect(b.id('dev')).toBe(id);
    await a.manager.put(id, spec);
    await b.manager.put(id, spec);
    await a.waitFor(id, 'running', 60_000);
    await b.waitFor(id, 'running', 60_000);
  }, 180_000);

  afterAll(async () => {
    for (const container of leftovers) await docker(['rm', '-f', container]).catch(() => '');
    for (const harness of made.reverse()) await harness.cleanup();
  });

  it('each makes its own container and home volume, named and labelled with its instance', async () => {
    const [mine, theirs] = [await raw(`cvm-${id}.ns-a`), await raw(`cvm-${id}.ns-b`)];
    expect(mine.State.Running && theirs.State.Running).toBe(true);
    expect(mine.Config.Labels).toMatchObject({ [WORKSPACE_LABEL]: id, [INSTANCE_LABEL]: 'ns-a' });
    expect(theirs.Config.Labels).toMatchObject({ [WORKSPACE_LABEL]: id, [INSTANCE_LABEL]: 'ns-b' });
    expect((await volumesOfWorkspace(id)).sort()).toEqual([`cvm-${id}-home.ns-a`, `cvm-${id}-home.ns-b`]);
  });

  it('a restarted daemon adopts its own container and removes only its own inspection leftovers', async () => {
    for (const owner of ['ns-a', 'ns-b']) {
      leftovers.push(await b.engine.createContainer({ name: `cvm-inspect-${owner}-${id}`, Image: BUSYBOX_IMAGE, Labels: { [INSPECTION_LABEL]: owner }, HostConfig: { NetworkMode: 'none' } }));
    }
    const before = { a: a.manager.get(id).containerId, b: b.manager.get(id).containerId };
    await b.manager.shutdown('keep');
    b.manager = b.newManager();
    await b.manager.init();
    expect((await b.waitFor(id, 'running')).containerId).toBe(before.b);
    expect(a.manager.get(id)).toMatchObject({ phase: 'running', containerId: before.a });
    expect((await raw(before.a ?? '')).State.Running).toBe(true);
    expect(await b.engine.inspectContainer(`cvm-inspect-ns-a-${id}`)).toBeDefined();
    expect(await b.engine.inspectContainer(`cvm-inspect-ns-b-${id}`)).toBeUndefined();
  }, 60_000);

  it("a purge removes its own container and volume and not the other's", async () => {
    const theirs = a.manager.get(id).containerId ?? '';
    await b.manager.delete(id, true);
    await b.manager.idle();
    expect(b.manager.workspace(id)).toBeUndefined();
    expect(await b.engine.inspectContainer(`cvm-${id}.ns-b`)).toBeUndefined();
    expect((await raw(theirs)).State.Running).toBe(true);
    expect(await volumesOfWorkspace(id)).toEqual([`cvm-${id}-home.ns-a`]);
  }, 60_000);
});
