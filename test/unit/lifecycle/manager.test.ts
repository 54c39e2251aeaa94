/**
 * The manager's lifecycle over the fake engine: PUT, start, stop, restart, rebuild, delete, adoption at init and
 * shutdown. What only dockerd and sysbox can show stays in test/integration/lifecycle.test.ts and restart.test.ts.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GENERATION_LABEL, SPEC_HASH_LABEL, WORKSPACE_LABEL } from '../../../src/container/labels.js';
import { InvalidSpecError, SpecRefusal, WorkspaceConflictError, WorkspaceNotFoundError } from '../../../src/errors.js';
import { INSPECTION_LABEL } from '../../../src/image/inspection-container.js';
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


describe('PUT', () => {
  it('stores the record first, then creates the volumes and the container and starts it', async () => {
    const { created, status } = await t.manager.put('ws1', { image: IMAGE, username: 'coder' });
    expect(created).toBe(true);
    expect(status.phase).toBe('pending');
    expect((await t.record('ws1')).pending).toEqual({ op: 'create' });
    await t.manager.idle();

    const container = t.engine.container('cvm-ws1');
    expect(container?.state.running).toBe(true);
    expect(container?.spec.Labels).toMatchObject({ [WORKSPACE_LABEL]: 'ws1', [GENERATION_LABEL]: '1', [SPEC_HASH_LABEL]: specHash({ image: IMAGE, username: 'coder' }) });
    expect(container?.spec.HostConfig.Runtime).toBe('sysbox-runc');
    expect(t.engine.volumes.get('cvm-ws1-home')).toEqual({ [WORKSPACE_LABEL]: 'ws1' });
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', outdated: false, containerId: container?.id, runtime: 'sysbox-runc', image: { ref: IMAGE } });
    expect((await t.record('ws1')).pending).toBeNull();
    expect(t.metrics.steps).toEqual(['pull', 'detect', 'create', 'start']);
  });

  it('pulls an image that is missing and reports its bytes', async () => {
    const ref = 'registry.test/team/new:2';
    t.engine.registry.add(ref);
    await t.put('ws1', { image: ref });
    expect(t.engine.callsOf('pullImage').map(([r]) => r)).toEqual([ref]);
    expect(t.manager.get('ws1').phase).toBe('running');
    expect(t.metrics.pulledBytes).toBe(1000);
  });

  it('fails with the reason code when the image cannot be had', async () => {
    await t.put('ws1', { image: 'registry.test/team/missing:1' });
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'failed', reason: 'ImageNotFound' });
    expect(t.engine.containers.size).toBe(0);
  });

  it('refuses a bad id or a spec the node refuses before storing anything', async () => {
    await expect(t.manager.put('Not_A_Label', { image: IMAGE })).rejects.toBeInstanceOf(InvalidSpecError);
    const refusing = t.newManager({ precheck: () => Promise.reject(new SpecRefusal('CvmDisabled', 'CVMs are disabled')) });
    await refusing.init();
    await expect(refusing.put('ws2', { image: IMAGE })).rejects.toBeInstanceOf(SpecRefusal);
    expect(await readdir(path.join(t.stateDir, 'workspaces'))).toEqual([]);
    expect(t.engine.callsOf('createContainer')).toEqual([]);
  });

  it('a replaced spec leaves the container as it is and shows outdated until a rebuild', async () => {
    await t.put('ws1');
    const first = t.engine.container('cvm-ws1')?.id;
    const { created, status } = await t.manager.put('ws1', { image: IMAGE, hostname: 'other' });
    expect(created).toBe(false);
    expect(status.outdated).toBe(true);
    await t.manager.idle();
    expect(t.engine.container('cvm-ws1')?.id).toBe(first);

    await t.manager.rebuild('ws1', { pull: false });
    await t.manager.idle();
    const rebuilt = t.engine.container('cvm-ws1');
    expect(rebuilt?.id).not.toBe(first);
    expect(rebuilt?.spec.Hostname).toBe('other');
    expect(rebuilt?.spec.Labels[GENERATION_LABEL]).toBe('2');
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', outdated: false });
    expect(t.engine.volumes.has('cvm-ws1-home')).toBe(true);
  });

  it('converges a failed workspace without a container again when its spec is replaced', async () => {
    await t.put('ws1', { image: 'registry.test/team/missing:1' });
    expect(t.manager.get('ws1').phase).toBe('failed');
    await t.put('ws1', { image: IMAGE });
    expect(t.manager.get('ws1').phase).toBe('running');
  });
});

describe('actions', () => {
  beforeEach(async () => {
    await t.put('ws1');
  });

  it('stop, start and restart follow the desired state, which is stored', async () => {
    await t.manager.stop('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('stopped');
    expect(t.engine.container('cvm-ws1')?.state.running).toBe(false);
    expect((await t.record('ws1')).desired).toBe('stopped');

    await t.manager.start('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('running');
    expect((await t.record('ws1')).desired).toBe('running');

    const startsBefore = t.engine.callsOf('startContainer').length;
    await t.manager.restart('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('running');
    expect(t.engine.callsOf('stopContainer').length).toBe(2);
    expect(t.engine.callsOf('startContainer').length).toBe(startsBefore + 1);
  });

  it('start of a running workspace changes nothing', async () => {
    await t.manager.start('ws1');
    await t.manager.idle();
    expect(t.engine.callsOf('startContainer')).toHaveLength(1);
  });

  it('a stopped workspace whose container vanished is made again at start', async () => {
    await t.manager.stop('ws1');
    await t.manager.idle();
    await t.engine.removeContainer('cvm-ws1', { force: true });
    await t.manager.start('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1').phase).toBe('running');
    expect(t.engine.callsOf('createContainer')).toHaveLength(2);
  });

  it('delete removes the container and the record, keeps the volumes, then the workspace is gone', async () => {
    const status = await t.manager.delete('ws1', false);
    expect(status.id).toBe('ws1');
    await expect(t.manager.start('ws1')).rejects.toBeInstanceOf(WorkspaceConflictError);
    await t.manager.idle();
    expect(() => t.manager.get('ws1')).toThrow(WorkspaceNotFoundError);
    expect(t.engine.containers.size).toBe(0);
    expect(t.engine.volumes.has('cvm-ws1-home')).toBe(true);
    expect(await readdir(path.join(t.stateDir, 'workspaces'))).toEqual([]);
  });

  it('an unknown id is a WorkspaceNotFoundError', async () => {
    await expect(t.manager.stop('nope')).rejects.toBeInstanceOf(WorkspaceNotFoundError);
    expect(() => t.manager.get('nope')).toThrow(WorkspaceNotFoundError);
  });

  it('runs the bootstrap script as the workspace user in its workdir and logs its output', async () => {
    t.engine.onExec = (_id, options) => {
      options.onOutput?.('stdout', Buffer.from('hello\nwor'));
      options.onOutput?.('stdout', Buffer.from('ld\n'));
      return Promise.resolve({ exitCode: 0 });
    };
    await t.put('ws2', { username: 'coder', bootstrap: { script: 'echo hello' } });
    await t.manager.idle();
    const [, exec] = t.engine.callsOf('exec').at(-1) as [string, { cmd: string[]; user: string; workingDir: string }];
    expect(exec).toMatchObject({ cmd: ['/bin/sh', '/var/lib/cvm-supervisor/bootstrap'], user: 'coder', workingDir: '/home/coder' });
    await vanish(() => !t.log('ws2').includes('bootstrap: bootstrap exited with code 0'));
    expect(t.log('ws2')).toEqual(expect.arrayContaining(['bootstrap: running bootstrap as coder', 'bootstrap: hello', 'bootstrap: world']));
  });
});

describe('init (a daemon restart)', () => {
  it('adopts a running container as it is, without creating or starting anything', async () => {
    await t.put('ws1');
    const again = t.newManager();
    await again.init();
    expect(again.get('ws1')).toMatchObject({ phase: 'pending', containerId: t.engine.container('cvm-ws1')?.id, outdated: false });
    await again.idle();
    expect(again.get('ws1').phase).toBe('running');
    expect(t.engine.callsOf('createContainer')).toHaveLength(1);
    expect(t.engine.callsOf('startContainer')).toHaveLength(1);
  });

  it('starts a stopped container of a workspace meant to run', async () => {
    await t.put('ws1');
    // The daemon is gone (its containers kept) when the container stops.
    await t.manager.shutdown('keep');
    await t.engine.stopContainer('cvm-ws1');
    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1').phase).toBe('running');
    expect(t.engine.callsOf('createContainer')).toHaveLength(1);
  });

  it('finishes a create that the previous daemon began', async () => {
    const gate = t.engine.hold('createContainer');
    await t.manager.put('ws1', { image: IMAGE });
    await gate.reached;
    // The daemon dies here, its record saying `create` is pending; its call never comes back.
    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1').phase).toBe('running');
    expect(await t.engine.listContainers([WORKSPACE_LABEL])).toHaveLength(1);
    gate.fail(new Error('the daemon that made this call is gone'));
  });

  it('leaves a workspace container it has no record of alone, and removes its own stale inspection containers', async () => {
    t.engine.addImage('other');
    await t.engine.createContainer({ name: 'cvm-stranger', Image: 'other', Labels: { [WORKSPACE_LABEL]: 'stranger' }, HostConfig: {} });
    await t.engine.createContainer({ name: 'cvm-inspect-1', Image: 'other', Labels: { [INSPECTION_LABEL]: 'unit-test' }, HostConfig: {} });
    await t.engine.createContainer({ name: 'cvm-inspect-2', Image: 'other', Labels: { [INSPECTION_LABEL]: 'another-daemon' }, HostConfig: {} });
    const again = t.newManager();
    await again.init();
    expect(t.engine.container('cvm-stranger')).toBeDefined();
    expect(t.engine.container('cvm-inspect-1')).toBeUndefined();
    expect(t.engine.container('cvm-inspect-2')).toBeDefined();
    expect(t.logs.some((l) => l.msg === 'a workspace container with no desired state here' && l.workspace === 'stranger')).toBe(true);
  });

  it('finishes a delete the previous daemon did not', async () => {
    await t.put('ws1');
    const gate = t.engine.hold('removeContainer');
    await t.manager.delete('ws1', true);
    await gate.reached;
    const again = t.newManager();
    await again.init();
    gate.release();
    await again.idle();
    await t.manager.idle();
    expect(again.list()).toEqual([]);
    expect(t.engine.containers.size).toBe(0);
    expect(t.engine.volumes.size).toBe(0);
  });
});

describe('shutdown', () => {
  it('policy stop stops the running containers but keeps the desired state; keep leaves them running', async () => {
    await t.put('ws1');
    await t.put('ws2');
    const keeping = t.newManager();
    await keeping.init();
    await keeping.idle();
    await keeping.shutdown('keep');
    expect(t.engine.container('cvm-ws1')?.state.running).toBe(true);

    await t.manager.shutdown('stop', Date.now() + 25_000);
    expect(t.engine.container('cvm-ws1')?.state.running).toBe(false);
    expect(t.engine.container('cvm-ws2')?.state.running).toBe(false);
    // 25 s less the kill margin leaves time for the containers' own stop timeout (10 s for an init).
    expect(t.engine.callsOf('stopContainer').map(([, timeout]) => timeout)).toEqual([undefined, undefined]);
    expect((await t.record('ws1')).desired).toBe('running');
  });

  it('a stop by the deadline sets a timeout that ends before it', async () => {
    await t.put('ws1');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      await t.manager.shutdown('stop', Date.now() + 8_000);
    } finally {
      vi.useRealTimers();
    }
    // 8 s less the kill margin (3 s), shorter than the init's own 10 s.
    expect(t.engine.callsOf('stopContainer').map(([, timeout]) => timeout)).toEqual([5]);
  });
});

/** Waits until `pending()` is false, on the event loop, without a fixed sleep. */
async function vanish(pending: () => boolean): Promise<void> {
  for (let i = 0; pending() && i < 1000; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(pending()).toBe(false);
}
