/** planGpus' edges on fixture hosts with one fact changed: selection syntax, messages, and the env it writes (plan.ts). */
import { beforeAll, describe, expect, it } from 'vitest';
import { discoverGpus, type GpuNodeFacts } from '../../../src/gpu/discover.js';
import { type GpuPlan, planGpus } from '../../../src/gpu/plan.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';

let ubuntu: GpuNodeFacts;
let rhel: GpuNodeFacts;
beforeAll(async () => {
  ubuntu = await discoverGpus(new FixtureHostFs('one-gpu-ubuntu'));
  rhel = await discoverGpus(new FixtureHostFs('four-gpu-rhel'));
});

const spec = (gpus: Partial<NonNullable<WorkspaceSpec['gpus']>>, env?: Record<string, string>): WorkspaceSpec => ({ image: 'dev', gpus: { enabled: true, ...gpus }, ...(env && { env }) });
const plan = (facts: GpuNodeFacts, gpus: Partial<NonNullable<WorkspaceSpec['gpus']>> = {}, env?: Record<string, string>): GpuPlan | null =>
  planGpus(spec(gpus, env), { enabled: true, facts }, null);

describe('planGpus: selection syntax', () => {
  it('reads an empty or blank-padded selection as the toolkit does', () => {
    expect(plan(rhel, { visibleDevices: '' })).toBeNull();
    expect(plan(rhel, { visibleDevices: ' void ' })).toBeNull();
    expect(plan(rhel, { visibleDevices: ' all ' })?.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
  });

  it.each(['0:1', '10:12', 'mig-1234'])('refuses the MIG instance selector %j', (item) => {
    expect(() => plan(rhel, { visibleDevices: item })).toThrow(`gpus.visibleDevices: ${item} selects a MIG instance; select whole GPUs`);
  });

  it.each(['x0:1', '0:1x', 'xMIG-1'])('reads %j as a GPU name, not a MIG instance selector: the selector is the whole item', (item) => {
    expect(() => plan(rhel, { visibleDevices: item })).toThrow(`gpus.visibleDevices: there is no GPU ${item} on this node`);
  });

  it('reads an index only when the item is all digits', () => {
    expect(() => plan(rhel, { visibleDevices: '1x' })).toThrow('there is no GPU 1x on this node');
  });

  it('selects a GPU by an index of two digits', () => {
    const gpu0 = rhel.gpus[0];
    if (gpu0 === undefined) throw new Error('fixture has no GPU');
    const eleven = Array.from({ length: 11 }, (_, index) => ({ ...gpu0, index, uuid: `GPU-${String(index)}` }));
    expect(plan({ ...rhel, gpus: eleven }, { visibleDevices: '10' })?.gpus.map((g) => g.uuid)).toEqual(['GPU-10']);
  });

  it('names "none" when the node lists no GPU', () => {
    expect(() => plan({ ...ubuntu, gpus: [] }, { visibleDevices: '0' })).toThrow('there is no GPU 0 on this node; it has: none');
  });
});

describe('planGpus: messages', () => {
  it('says where an unknown capability came from when it is the env', () => {
    expect(() => plan(ubuntu, {}, { NVIDIA_DRIVER_CAPABILITIES: 'warp' })).toThrow('env.NVIDIA_DRIVER_CAPABILITIES: unknown capability warp');
  });

  it('refuses when discovery did not run, and a GPU without its device node', () => {
    expect(() => planGpus(spec({}), undefined, null)).toThrow('GPU discovery did not run on this node');
    const gpu0 = ubuntu.gpus[0];
    if (gpu0 === undefined) throw new Error('fixture has no GPU');
    expect(() => plan({ ...ubuntu, gpus: [{ ...gpu0, device: null }] })).toThrow('GPU 0 (GPU-8d2bcb4f-5b3e-6c3b-8c7a-2f1e0c1d9a01) has no /dev/nvidia0 under the host root');
  });

  it('names the missing capability, its first libraries, the driver and the directories searched', () => {
    expect(() => plan(ubuntu, { capabilities: 'all' })).toThrow(
      'no graphics library of driver 535.129.03 (libnvidia-eglcore.so, libnvidia-glcore.so, libnvidia-tls.so, ...) in /usr/lib/x86_64-linux-gnu, /usr/lib64, /usr/lib on the host; ' +
        "mount the host's library directory under the host root, or set CODER_USR_LIB_DIR",
    );
    expect(() => plan({ ...ubuntu, driverVersion: null }, { capabilities: 'graphics' })).toThrow('no graphics library of driver ? (');
  });
});

describe('planGpus: the env it writes', () => {
  it('lists the selected GPUs by UUID in index order, or none', () => {
    expect(plan(rhel, { visibleDevices: '3,1' })?.env['NVIDIA_VISIBLE_DEVICES']).toBe('GPU-22222222-0000-0000-0000-000000000031,GPU-44444444-0000-0000-0000-0000000000ca');
    expect(plan(rhel, { visibleDevices: 'none' })?.env['NVIDIA_VISIBLE_DEVICES']).toBe('none');
  });
});
