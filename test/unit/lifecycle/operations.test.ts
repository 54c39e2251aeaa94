/**
 * The steps of the operations over the fake engine: what each asks of the engine, in which order, and how a step
 * that runs again after a crash finds what the first run made.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GENERATION_LABEL, SPEC_HASH_LABEL, WORKSPACE_LABEL } from '../../../src/container/labels.js';
import { EngineError } from '../../../src/engine/engine-errors.js';
import { GPU_LD_CONF } from '../../../src/gpu/plan.js';
import { StateStore, type WorkspaceRecord } from '../../../src/lifecycle/store.js';
import { specHash } from '../../../src/spec/spec-hash.js';
import { gpuNode, IMAGE, Lifecycle } from './harness.js';

let t: Lifecycle;

beforeEach(async () => {
  t = await Lifecycle.create();
});
afterEach(async () => {
  vi.useRealTimers();
  await t.cleanup();
});

describe('operations', () => {
  it('sends a systemd workspace SIGRTMIN+3 again every second until it has stopped', async () => {
    t.init = 'systemd';
    await t.manager.init();
    await t.put('ws1');
    expect(t.engine.container('cvm-ws1')?.spec.StopSignal).toBe('SIGRTMIN+3');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const gate = t.engine.hold('stopContainer');
    await t.manager.stop('ws1');
    await gate.reached;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(t.engine.callsOf('signalContainer')).toEqual([
      [t.engine.container('cvm-ws1')?.id, 'SIGRTMIN+3'],
      [t.engine.container('cvm-ws1')?.id, 'SIGRTMIN+3'],
      [t.engine.container('cvm-ws1')?.id, 'SIGRTMIN+3'],
    ]);
    gate.release();
    await t.manager.idle();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(t.engine.callsOf('signalContainer')).toHaveLength(3);
    expect(t.manager.get('ws1').phase).toBe('stopped');
  });

  it('a create that runs again finds the container of its generation instead of making a second one', async () => {
    const spec = { image: IMAGE };
    const record: WorkspaceRecord = { id: 'ws1', spec, desired: 'running', generation: 3, pending: { op: 'create' }, createdAt: new Date().toISOString(), restarts: 0 };
    await mkdir(path.join(t.stateDir, 'workspaces'), { recursive: true });
    await writeFile(path.join(t.stateDir, 'workspaces', 'ws1.json'), JSON.stringify(record));
    const made = await t.engine.createContainer({
      name: 'cvm-ws1',
      Image: IMAGE,
      Labels: { [WORKSPACE_LABEL]: 'ws1', [GENERATION_LABEL]: '3', [SPEC_HASH_LABEL]: specHash(spec) },
      HostConfig: { Runtime: 'sysbox-runc' },
    });
    await t.manager.init();
    await t.manager.idle();
    expect(t.engine.callsOf('createContainer')).toHaveLength(1);
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', containerId: made });
    // A container it did not make just now is inspected before its start (its binds are checked again).
    const ops = t.engine.calls.map((c) => c.op);
    expect(ops.slice(ops.lastIndexOf('startContainer') - 1, ops.lastIndexOf('startContainer') + 1)).toEqual(['inspectContainer', 'startContainer']);
  });

  it('starts a container it has just made without inspecting it first, and inspects it after the start', async () => {
    await t.manager.init();
    await t.put('ws1');
    const ops = t.engine.calls.map((c) => c.op).filter((op) => op === 'createContainer' || op === 'startContainer' || op === 'inspectContainer');
    expect(ops.slice(ops.indexOf('createContainer'))).toEqual(['createContainer', 'startContainer', 'inspectContainer']);
  });

  it("reads the node's facts, the mount sources and the volumes while the engine looks the container's name up", async () => {
    const reads: string[] = [];
    t.manager = t.newManager({
      nodeFacts: () => {
        reads.push('nodeFacts');
        return Promise.resolve(structuredClone(t.node));
      },
      resolveMountSources: (sources) => {
        reads.push('resolveMountSources');
        return Promise.resolve(new Map(sources.map((s) => [s, s])));
      },
    });
    await t.manager.init();
    const lookup = t.engine.hold('inspectContainer');
    await t.manager.put('ws1', { image: IMAGE });
    await lookup.reached;
    try {
      expect(reads).toEqual(expect.arrayContaining(['nodeFacts', 'resolveMountSources']));
      expect(t.engine.callsOf('inspectVolume').length).toBeGreaterThan(0);
      // Nothing is made before the name is known.
      expect(t.engine.callsOf('createVolume')).toEqual([]);
    } finally {
      lookup.release();
    }
    await t.until('ws1', 'running');
  });

  it("starts the container while the create's record write is under way, and ends only once that write has", async () => {
    let releaseWrite = (): void => undefined;
    const written = vi.fn();
    class SlowCreateRecord extends StateStore {
      override async save(record: WorkspaceRecord): Promise<void> {
        // The write after the create: the record loses its pending create (the first write, at PUT, still has it).
        if (record.pending === null && record.generation === 1 && !written.mock.calls.length) {
          await new Promise<void>((resolve) => (releaseWrite = resolve));
          written();
        }
        return super.save(record);
      }
    }
    await t.cleanup();
    t = await Lifecycle.create();
    t.manager = t.newManager({ store: new SlowCreateRecord(t.stateDir) });
    await t.manager.init();
    await t.manager.put('ws1', { image: IMAGE });
    await t.until('ws1', 'running');
    expect(t.engine.callsOf('startContainer')).toHaveLength(1);
    let idle = false;
    const settled = t.manager.idle().then(() => (idle = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(false);
    releaseWrite();
    await settled;
    expect(written).toHaveBeenCalledTimes(1);
    expect((await t.record('ws1')).pending).toBeNull();
  });

  it('replaces a container of an older generation, stopping it first', async () => {
    await t.manager.init();
    await t.put('ws1');
    const old = t.engine.container('cvm-ws1')?.id;
    await t.manager.rebuild('ws1');
    await t.manager.idle();
    expect(t.engine.callsOf('stopContainer').map(([id]) => id)).toEqual([old]);
    expect(t.engine.callsOf('removeContainer').map(([id]) => id)).toEqual([old]);
    expect(t.log('ws1').some((line) => line.startsWith(`info: replacing container ${old?.slice(0, 12) ?? ''} (generation 1)`))).toBe(true);
    // A rebuild pulls again.
    expect(t.engine.callsOf('pullImage')).toHaveLength(1);
  });

  it('gives a GPU workspace its devices and driver libraries, refreshes the library cache, and reports the GPUs', async () => {
    t.node.gpus = gpuNode('535.104.05');
    await t.manager.init();
    await t.put('ws1', { gpus: { enabled: true, libraryDir: '/opt/nvidia/lib' } });
    const container = t.engine.container('cvm-ws1');
    expect(container?.spec.HostConfig.Devices?.map((d) => d.PathOnHost)).toEqual(['/dev/nvidia0', '/dev/nvidiactl']);
    expect(container?.spec.HostConfig.Mounts?.filter((m) => m.Type === 'bind').map((m) => m.Target)).toContain('/opt/nvidia/lib/libcuda.so.535.104.05');
    expect(t.engine.file('cvm-ws1', GPU_LD_CONF)?.content).toBe('/opt/nvidia/lib\n');
    expect(t.engine.callsOf('exec').map(([, options]) => (options as { cmd: string[] }).cmd)).toEqual([['ldconfig']]);
    expect(t.manager.get('ws1').gpus).toEqual([{ index: 0, uuid: 'GPU-0000', model: 'Tesla T4' }]);
  });

  it('a failing ldconfig is logged, not a failure', async () => {
    t.node.gpus = gpuNode('535.104.05');
    t.engine.onExec = () => Promise.resolve({ exitCode: 127 });
    await t.manager.init();
    await t.put('ws1', { gpus: { enabled: true } });
    expect(t.manager.get('ws1').phase).toBe('running');
    expect(t.log('ws1')).toContain('info: ldconfig exited with 127; GPU libraries are found by their full names only');
  });

  it('a container that exits right after its start fails the workspace with its exit code', async () => {
    await t.manager.init();
    t.engine.after('startContainer', (id) => {
      t.engine.die(id, 126);
    });
    await t.put('ws1');
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'failed', reason: 'ContainerExited', message: 'PID 1 exited right after start with code 126' });
  });

  it('a runtime the engine does not know fails the workspace with RuntimeMissing', async () => {
    await t.manager.init();
    t.engine.fail('createContainer', new EngineError('container create', 400, 'Unknown runtime specified sysbox-runc'));
    await t.put('ws1');
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'failed', reason: 'RuntimeMissing' });
  });
});
