/** The GPU plan on fixture hosts (stand-ins for NVIDIA hosts; see discover.test.ts): selection, capabilities, paths. */
import { beforeAll, describe, expect, it } from 'vitest';
import { GpuUnsupportedError, InvalidSpecError } from '../../../src/errors.js';
import { discoverGpus, type GpuNodeFacts } from '../../../src/gpu/discover.js';
import { type GpuPlan, libraryDirFor, planGpus } from '../../../src/gpu/plan.js';
import type { OsRelease } from '../../../src/image/facts.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';

const hosts: Record<string, GpuNodeFacts> = {};
beforeAll(async () => {
  for (const host of ['one-gpu-ubuntu', 'four-gpu-rhel', 'mig-fedora', 'gke-node', 'ec2-vm', 'ec2-metal', 'amd-host', 'no-driver']) {
    hosts[host] = await discoverGpus(new FixtureHostFs(host));
  }
});

const UBUNTU: OsRelease = { id: 'ubuntu', idLike: ['debian'], versionId: '22.04' };

function plan(host: string, gpus: Partial<NonNullable<WorkspaceSpec['gpus']>> = {}, env?: Record<string, string>, os: OsRelease | null = UBUNTU, enabled = true): GpuPlan | null {
  const facts = hosts[host];
  if (facts === undefined) throw new Error(`no fixture ${host}`);
  const spec: WorkspaceSpec = { image: 'dev', gpus: { enabled: true, ...gpus }, ...(env && { env }) };
  return planGpus(spec, { enabled, facts }, os);
}

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (e) {
    if (e instanceof Error) return e;
  }
  throw new Error('expected a throw');
}

const devicesOf = (p: GpuPlan | null) => (p?.devices ?? []).map((d) => `${d.hostPath} ${d.major}:${d.minor}`);
const targetsOf = (p: GpuPlan | null) => (p?.mounts ?? []).map((m) => m.target);

describe('planGpus: the whole plan of a 1-GPU Ubuntu host into an Ubuntu image', () => {
  it('has the GPU and control devices, the compute and utility files read-only in the multiarch dir, and env', () => {
    const p = plan('one-gpu-ubuntu');
    expect(p?.gpus.map((g) => g.uuid)).toEqual(['GPU-8d2bcb4f-5b3e-6c3b-8c7a-2f1e0c1d9a01']);
    expect(devicesOf(p)).toEqual(['/dev/nvidia0 195:0', '/dev/nvidiactl 195:255', '/dev/nvidia-modeset 195:254', '/dev/nvidia-uvm 511:0', '/dev/nvidia-uvm-tools 511:1']);
    const dir = '/usr/lib/x86_64-linux-gnu';
    expect(p?.mounts).toContainEqual({ hostPath: `${dir}/libcuda.so.535.129.03`, target: `${dir}/libcuda.so.1` });
    expect(p?.mounts).toContainEqual({ hostPath: `${dir}/libcuda.so.535.129.03`, target: `${dir}/libcuda.so.535.129.03` });
    expect(p?.mounts).toContainEqual({ hostPath: '/usr/bin/nvidia-smi', target: '/usr/bin/nvidia-smi' });
    expect(p?.mounts).toContainEqual({ hostPath: '/usr/bin/nvidia-cuda-mps-control', target: '/usr/bin/nvidia-cuda-mps-control' });
    // video is not asked for by default
    expect(targetsOf(p).join(' ')).not.toMatch(/libnvidia-encode|libnvcuvid|glib|470/);
    expect(p?.env).toEqual({ NVIDIA_VISIBLE_DEVICES: 'GPU-8d2bcb4f-5b3e-6c3b-8c7a-2f1e0c1d9a01', NVIDIA_DRIVER_CAPABILITIES: 'utility,compute' });
  });

  it('is null when the spec asks for no GPU', () => {
    expect(planGpus({ image: 'dev' }, { enabled: true, facts: hosts['one-gpu-ubuntu'] as GpuNodeFacts }, UBUNTU)).toBeNull();
    expect(plan('one-gpu-ubuntu', { visibleDevices: 'void' })).toBeNull();
  });
});

describe('planGpus: selection', () => {
  it.each([
    ['all', [0, 1, 2, 3], ['/dev/nvidia2', '/dev/nvidia0', '/dev/nvidia3', '/dev/nvidia1']],
    ['3,1', [1, 3], ['/dev/nvidia0', '/dev/nvidia1']],
    ['GPU-33333333-0000-0000-0000-0000000000B1', [2], ['/dev/nvidia3']],
    ['0, GPU-11111111-0000-0000-0000-000000000017', [0], ['/dev/nvidia2']],
    ['none', [], []],
  ])('visibleDevices %j gives indices %j', (visible, indices, gpuNodes) => {
    const p = plan('four-gpu-rhel', { visibleDevices: visible });
    expect(p?.gpus.map((g) => g.index)).toEqual(indices);
    expect(devicesOf(p).filter((d) => /^\/dev\/nvidia\d/.test(d)).map((d) => d.split(' ')[0])).toEqual(gpuNodes);
    // nvidiactl and UVM come with every GPU workspace, also with `none` (libraries without a GPU).
    expect(devicesOf(p)).toContain('/dev/nvidiactl 195:255');
    expect(targetsOf(p)).toContain('/usr/lib/x86_64-linux-gnu/libcuda.so.1');
  });

  it('reads NVIDIA_VISIBLE_DEVICES from the workspace env; gpus.visibleDevices wins over it', () => {
    expect(plan('four-gpu-rhel', {}, { NVIDIA_VISIBLE_DEVICES: '2' })?.gpus.map((g) => g.index)).toEqual([2]);
    expect(plan('four-gpu-rhel', { visibleDevices: '1' }, { NVIDIA_VISIBLE_DEVICES: '2' })?.gpus.map((g) => g.index)).toEqual([1]);
    expect(plan('four-gpu-rhel', {}, { NVIDIA_VISIBLE_DEVICES: 'void' })).toBeNull();
  });

  it('refuses an unknown index or UUID as InvalidSpec, naming the GPUs that exist', () => {
    const error = errorOf(() => plan('four-gpu-rhel', { visibleDevices: '0,4' }));
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect(error instanceof InvalidSpecError && error.path).toBe('gpus.visibleDevices');
    expect(error.message).toContain('there is no GPU 4 on this node; it has: 0 (GPU-11111111-0000-0000-0000-000000000017, NVIDIA L40S), 1 (');
    const fromEnv = errorOf(() => plan('one-gpu-ubuntu', {}, { NVIDIA_VISIBLE_DEVICES: 'GPU-nope' }));
    expect(fromEnv instanceof InvalidSpecError && fromEnv.path).toBe('env.NVIDIA_VISIBLE_DEVICES');
    expect(errorOf(() => plan('mig-fedora', { visibleDevices: 'MIG-a100a100-0000' })).message).toMatch(/selects a MIG instance; select whole GPUs/);
  });

  it('passes the MIG capability devices of a selected MIG GPU', () => {
    expect(devicesOf(plan('mig-fedora'))).toEqual([
      '/dev/nvidia0 195:0',
      '/dev/nvidia-caps/nvidia-cap12 237:12',
      '/dev/nvidia-caps/nvidia-cap13 237:13',
      '/dev/nvidia-caps/nvidia-cap21 237:21',
      '/dev/nvidia-caps/nvidia-cap22 237:22',
      '/dev/nvidiactl 195:255',
      '/dev/nvidia-modeset 195:254',
      '/dev/nvidia-uvm 510:0',
      '/dev/nvidia-uvm-tools 510:1',
    ]);
  });
});

describe('planGpus: capabilities', () => {
  it.each([
    ['utility', ['libnvidia-ml', 'nvidia-smi'], ['libcuda', 'libnvidia-encode', 'nvidia-cuda-mps']],
    ['compute', ['libcuda', 'libnvidia-ptxjitcompiler', 'libnvidia-nvvm', 'nvidia-cuda-mps-server'], ['libnvidia-ml', 'nvidia-smi']],
    ['video,utility', ['libnvidia-encode', 'libnvcuvid', 'libnvidia-ml'], ['libcuda']],
  ])('%s mounts %j and not %j', (capabilities, present, absent) => {
    const targets = targetsOf(plan('one-gpu-ubuntu', { capabilities })).join(' ');
    for (const name of present) expect(targets).toContain(`/${name}`);
    for (const name of absent) expect(targets).not.toContain(`/${name}`);
  });

  it('reads NVIDIA_DRIVER_CAPABILITIES from the env; all means every capability', () => {
    expect(plan('one-gpu-ubuntu', {}, { NVIDIA_DRIVER_CAPABILITIES: 'utility' })?.capabilities).toEqual(['utility']);
    expect(errorOf(() => plan('one-gpu-ubuntu', { capabilities: 'all' })).message).toMatch(/no graphics library of driver 535\.129\.03/);
  });

  it('refuses an unknown capability as InvalidSpec', () => {
    const error = errorOf(() => plan('one-gpu-ubuntu', { capabilities: 'compute,warp' }));
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect(error.message).toBe('gpus.capabilities: unknown capability warp (allowed: utility, compute, video, graphics, display, all)');
  });
});

describe('planGpus: the library directory in the image', () => {
  it.each([
    [{ id: 'ubuntu', idLike: ['debian'], versionId: '22.04' }, '/usr/lib/x86_64-linux-gnu'],
    [{ id: 'pop', idLike: ['ubuntu', 'debian'], versionId: '22.04' }, '/usr/lib/x86_64-linux-gnu'],
    [{ id: 'rocky', idLike: ['rhel', 'centos', 'fedora'], versionId: '9.3' }, '/usr/lib64'],
    [{ id: 'fedora', idLike: [], versionId: '40' }, '/usr/lib64'],
    [{ id: 'amzn', idLike: ['fedora'], versionId: '2023' }, '/usr/lib64'],
    [{ id: 'alpine', idLike: [], versionId: '3.20' }, '/usr/lib'],
    [null, '/usr/lib'],
  ])('%j → %s', (os, dir) => {
    expect(libraryDirFor(os, 'x86_64')).toBe(dir);
    expect(targetsOf(plan('four-gpu-rhel', {}, undefined, os))).toContain(`${dir}/libnvidia-ml.so.1`);
  });

  it('aarch64 Debian images get the aarch64 multiarch dir; gpus.libraryDir overrides the choice', () => {
    expect(libraryDirFor(UBUNTU, 'aarch64')).toBe('/usr/lib/aarch64-linux-gnu');
    const custom = plan('one-gpu-ubuntu', { libraryDir: '/opt/nvidia/lib' });
    expect(targetsOf(custom)).toContain('/opt/nvidia/lib/libcuda.so.1');
    // The dynamic linker does not search a directory of the spec's choosing: it goes into an ld.so.conf.d file.
    expect(custom?.ldConfigDir).toBe('/opt/nvidia/lib');
    expect(plan('one-gpu-ubuntu')?.ldConfigDir).toBeNull();
  });
});

describe('planGpus: refusals', () => {
  it.each([
    ['gke-node', /GKE node/],
    ['ec2-vm', /Amazon EC2 VM/],
    ['amd-host', /AMD GPUs are not supported/],
    ['no-driver', /no NVIDIA driver is loaded/],
  ])('%s is GpuUnsupported', (host, message) => {
    const error = errorOf(() => plan(host));
    expect(error).toBeInstanceOf(GpuUnsupportedError);
    expect(error.message).toMatch(message);
  });

  it('refuses every GPU request while the admin disabled GPUs, but not a spec without one', () => {
    expect(errorOf(() => plan('one-gpu-ubuntu', {}, undefined, UBUNTU, false)).message).toBe('GPUs are disabled on this node (--gpus-enabled false)');
    expect(planGpus({ image: 'dev', gpus: { enabled: false } }, { enabled: false, facts: hosts['no-driver'] as GpuNodeFacts }, null)).toBeNull();
  });

  it('plans an EC2 .metal host', () => {
    expect(plan('ec2-metal')?.gpus.map((g) => g.model)).toEqual(['Tesla T4']);
  });
});
