/**
 * Regression tests of the lifecycle faults found by reading the code (docs/operations.md, "Reliability"), over the
 * fake engine. Each failed before its fix.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SPEC_HASH_LABEL } from '../../../src/container/labels.js';
import { EngineError } from '../../../src/engine/engine-errors.js';
import { ImageGc } from '../../../src/image/image-gc.js';
import { BOOTSTRAP_PATH } from '../../../src/lifecycle/bootstrap.js';
import { specHash } from '../../../src/spec/spec-hash.js';
import { IMAGE, Lifecycle } from './harness.js';

let t: Lifecycle;

beforeEach(async () => {
  t = await Lifecycle.create();
  await t.manager.init();
});
afterEach(async () => {
  await t.cleanup();
});

describe('a PUT during an operation', () => {
  it('the operation works on one snapshot of the spec, and the workspace then shows outdated', async () => {
    const big = 'registry.test/team/big:1';
    const small = 'registry.test/team/small:1';
    t.engine.registry.add(big);
    t.engine.addImage(small);
    const pull = t.engine.hold('pullImage');
    await t.manager.put('ws1', { image: big });
    await pull.reached;
    await t.manager.put('ws1', { image: small });
    pull.release();
    await t.manager.idle();

    const container = t.engine.container('cvm-ws1');
    expect(t.engine.images.get(container?.spec.Image ?? '')?.tags).toEqual([big]);
    expect(container?.spec.Labels[SPEC_HASH_LABEL]).toBe(specHash({ image: big }));
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', outdated: true, image: { ref: small } });

    await t.manager.rebuild('ws1', { pull: false });
    await t.manager.idle();
    expect(t.engine.images.get(t.engine.container('cvm-ws1')?.spec.Image ?? '')?.tags).toEqual([small]);
    expect(t.manager.get('ws1').outdated).toBe(false);
  });

  it.each([
    ['during the pull, which it cancels', 'pullImage'],
    ['once the image is there, with nothing to cancel', 'inspectImage'],
  ] as const)('a rebuild asked for %s makes a container of the new spec afterwards', async (_when, op) => {
    const big = 'registry.test/team/big:1';
    const small = 'registry.test/team/small:1';
    t.engine.registry.add(big);
    if (op === 'inspectImage') t.engine.addImage(big);
    t.engine.addImage(small);
    const gate = t.engine.hold(op);
    await t.manager.put('ws1', { image: big });
    await gate.reached;
    await t.manager.put('ws1', { image: small });
    await t.manager.rebuild('ws1', { pull: false });
    gate.release();
    await t.manager.idle();
    expect(t.engine.images.get(t.engine.container('cvm-ws1')?.spec.Image ?? '')?.tags).toEqual([small]);
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', outdated: false });
  });
});

describe('a delete that cannot finish', () => {
  const volumeInUse = new EngineError('volume remove', 409, 'remove team-home: volume is in use - [0123abcd]');

  it('ends failed with the reason and what is left behind, refuses other actions, and a second DELETE retries', async () => {
    await t.put('ws1', { home: { volume: 'team-home' } });
    // A container outside the daemon's care uses the volume: the engine answers 409.
    t.engine.fail('removeVolume', volumeInUse);
    await t.manager.delete('ws1', true);
    await t.manager.idle();
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'failed', reason: 'ContainerExited' });
    expect(t.manager.get('ws1').message).toMatch(/^delete could not finish: .*volume is in use.*; left behind: volume team-home; DELETE again to retry$/);
    expect(t.engine.container('cvm-ws1')).toBeUndefined();
    await expect(t.manager.start('ws1')).rejects.toThrow(/DELETE again/);

    await t.manager.delete('ws1', true);
    await t.manager.idle();
    expect(t.manager.list()).toEqual([]);
    expect(t.engine.volumes.has('team-home')).toBe(false);
  });

  it('a daemon restart retries it once, and it ends failed again rather than deleting forever', async () => {
    await t.put('ws1', { home: { volume: 'team-home' } });
    t.engine.fail('removeVolume', volumeInUse, 2);
    await t.manager.delete('ws1', true);
    await t.manager.idle();
    await t.manager.shutdown('keep');
    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1')).toMatchObject({ phase: 'failed' });
    expect(again.get('ws1').message).toMatch(/left behind: volume team-home/);
  });

  it('a second DELETE while the first runs widens it to a purge', async () => {
    await t.put('ws1');
    const gate = t.engine.hold('stopContainer');
    await t.manager.delete('ws1', false);
    await gate.reached;
    await t.manager.delete('ws1', true);
    gate.release();
    await t.manager.idle();
    expect(t.engine.volumes.size).toBe(0);
    expect(t.manager.list()).toEqual([]);
  });
});

describe('the bootstrap script', () => {
  it('a changed script takes effect at the next start', async () => {
    await t.put('ws1', { username: 'coder', bootstrap: { script: 'echo one' } });
    expect(t.engine.file('cvm-ws1', BOOTSTRAP_PATH)?.content).toBe('echo one');
    const { status } = await t.manager.put('ws1', { image: IMAGE, username: 'coder', bootstrap: { script: 'echo two' } });
    // The running container needs no rebuild for it.
    expect(status.outdated).toBe(false);
    await t.manager.restart('ws1');
    await t.manager.idle();
    expect(t.engine.file('cvm-ws1', BOOTSTRAP_PATH)?.content).toBe('echo two');
    expect(t.engine.callsOf('exec')).toHaveLength(2);
  });

  it('a script added to a workspace made without one is written before it runs', async () => {
    await t.put('ws1', { username: 'coder' });
    await t.manager.put('ws1', { image: IMAGE, username: 'coder', bootstrap: { script: 'echo late' } });
    await t.manager.restart('ws1');
    await t.manager.idle();
    expect(t.engine.file('cvm-ws1', BOOTSTRAP_PATH)?.content).toBe('echo late');
    expect(t.engine.callsOf('exec')).toHaveLength(1);
  });

  it('is always written, over a file the image has there, owned by the workspace user, mode 0500 (0700 for root)', async () => {
    t.engine.addImage('registry.test/team/preempt:1', { [BOOTSTRAP_PATH]: 'echo the image wins' });
    await t.put('ws1', { image: 'registry.test/team/preempt:1', username: 'coder', bootstrap: { script: 'echo the spec wins' } });
    expect(t.engine.file('cvm-ws1', BOOTSTRAP_PATH)).toEqual({ content: 'echo the spec wins', mode: 0o500, uid: 1000, gid: 1000 });
    await t.put('ws2', { bootstrap: { script: 'echo as root' } });
    expect(t.engine.file('cvm-ws2', BOOTSTRAP_PATH)).toEqual({ content: 'echo as root', mode: 0o700, uid: 0, gid: 0 });
  });
});

describe("image GC's bookkeeping", () => {
  it('a state dir that cannot be written fails no create, the first nor the next', async () => {
    const stateDir = path.join(t.stateDir, 'gc-state');
    await writeFile(stateDir, '');
    const gc = new ImageGc({ engine: t.engine, stateDir, highPercent: 85, lowPercent: 80, diskPath: () => Promise.resolve(stateDir), needed: () => [], logger: pino({ level: 'silent' }) });
    const manager = t.newManager({ imageUsed: (imageId) => gc.recordUse(imageId) });
    await manager.init();
    await manager.put('ws1', { image: IMAGE });
    await manager.put('ws2', { image: IMAGE });
    await manager.idle();
    expect(manager.get('ws1').phase).toBe('running');
    expect(manager.get('ws2').phase).toBe('running');
  });
});

describe('a corrupt workspace record', () => {
  it('is set aside, logged and counted, and the other workspaces still load', async () => {
    await t.put('ws1');
    await t.manager.shutdown('keep');
    const dir = path.join(t.stateDir, 'workspaces');
    await writeFile(path.join(dir, 'torn.json'), '{"id": "torn", "spec": {"ima');
    await writeFile(path.join(dir, 'other.json'), JSON.stringify({ id: 'someone-else', spec: { image: IMAGE } }));
    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.list().map((w) => [w.id, w.phase])).toEqual([['ws1', 'running']]);
    const names = (await readdir(dir)).sort();
    expect(names.filter((n) => n.endsWith('.json'))).toEqual(['ws1.json']);
    expect(names.filter((n) => /^(other|torn)\.json\.corrupt-\d+$/.test(n))).toHaveLength(2);
    expect(t.metrics.stateFileErrors).toEqual(['workspace-record: corrupt', 'workspace-record: corrupt']);
    expect(t.logs.filter((l) => l.msg === 'a workspace record is not readable as one; set aside, the other workspaces load')).toHaveLength(2);
  });
});

describe('shutdown', () => {
  it('waits for every stop, also after one failed, then reports which did not stop', async () => {
    await t.put('ws1');
    await t.put('ws2');
    t.engine.fail('stopContainer', new EngineError('container stop', 500, 'cannot kill container: permission denied'));
    const second = t.engine.hold('stopContainer');
    let settled = false;
    const done = t.manager.shutdown('stop').finally(() => {
      settled = true;
    });
    const outcome = expect(done).rejects.toThrow('1 workspace did not stop at shutdown: ws1');
    await second.reached;
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(settled).toBe(false);
    second.release();
    await outcome;
    expect(t.engine.container('cvm-ws2')?.state.running).toBe(false);
    expect(t.logs.some((l) => l.msg === 'workspace did not stop at shutdown' && l.workspace === 'ws1')).toBe(true);
  });
});
