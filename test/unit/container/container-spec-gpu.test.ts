/**
 * GPUs in the container spec, on fixture hosts (stand-ins for NVIDIA hosts, see test/unit/gpu). The sysbox rules
 * are encoded here because CI's runc stand-in would not catch them: under sysbox a device passes only at its
 * host path, and shows as nobody:nogroup inside.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { toErrorResponse } from '../../../src/api/error-responses.js';
import { buildContainerSpec, precheckSpec } from '../../../src/container/container-spec.js';
import { assertSafe, UnsafeSpecError } from '../../../src/container/hardening.js';
import type { NodeFacts } from '../../../src/container/node-facts.js';
import type { ContainerCreateSpec } from '../../../src/engine/types.js';
import { GpuUnsupportedError, InvalidSpecError } from '../../../src/errors.js';
import { discoverGpus, type GpuNodeFacts } from '../../../src/gpu/discover.js';
import type { ImageFacts } from '../../../src/image/facts.js';
import { toWorkspaceFailure } from '../../../src/lifecycle/failure.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';

let oneGpu: GpuNodeFacts;
let noDriver: GpuNodeFacts;
beforeAll(async () => {
  oneGpu = await discoverGpus(new FixtureHostFs('one-gpu-ubuntu'));
  noDriver = await discoverGpus(new FixtureHostFs('no-driver'));
});

const FACTS: ImageFacts = {
  imageId: 'sha256:abc',
  init: { mode: 'systemd', path: '/sbin/init', target: '/usr/lib/systemd/systemd', reason: null },
  osRelease: { id: 'ubuntu', idLike: ['debian'], versionId: '22.04' },
  users: [{ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' }],
  sleepPath: '/bin/sleep',
};

function node(overrides: Partial<NodeFacts> = {}, gpu: GpuNodeFacts = oneGpu): NodeFacts {
  return {
    cvmRuntime: 'sysbox-runc',
    runtimes: ['runc', 'sysbox-runc'],
    cvmEnabled: true,
    network: 'bridge',
    hostRoot: '/',
    engineHostRoot: '/',
    devices: { fuse: null, tun: null },
    allowedMountRoots: [],
    protectedHostPaths: ['/var/lib/cvm-supervisor'],
    gpus: { enabled: true, facts: gpu },
    ...overrides,
  };
}

const GPU_SPEC: WorkspaceSpec = { image: 'dev', gpus: { enabled: true }, env: { FOO: 'bar' } };

function build(spec: WorkspaceSpec, n: NodeFacts): ContainerCreateSpec {
  return buildContainerSpec({ id: 'gpu-1', spec, facts: FACTS, node: n, imageId: 'sha256:abc', specHash: 'f00d', generation: 1 });
}

function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (e) {
    if (e instanceof Error) return e;
  }
  throw new Error('expected a throw');
}

describe('buildContainerSpec with GPUs', () => {
  it('maps the devices at their host paths with rwm, binds the driver files read-only, and adds the env', () => {
    const spec = build(GPU_SPEC, node());
    expect(spec.HostConfig.Devices).toEqual(
      ['/dev/nvidia0', '/dev/nvidiactl', '/dev/nvidia-modeset', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'].map((p) => ({
        PathOnHost: p,
        PathInContainer: p,
        CgroupPermissions: 'rwm',
      })),
    );
    const binds = (spec.HostConfig.Mounts ?? []).filter((m) => m.Type === 'bind');
    expect(binds.every((m) => m.ReadOnly === true)).toBe(true);
    expect(binds).toContainEqual({
      Type: 'bind',
      Source: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.129.03',
      Target: '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
      ReadOnly: true,
    });
    expect(spec.Env).toEqual(['FOO=bar', 'NVIDIA_DRIVER_CAPABILITIES=utility,compute', 'NVIDIA_VISIBLE_DEVICES=GPU-8d2bcb4f-5b3e-6c3b-8c7a-2f1e0c1d9a01']);
  });

  it('adds nothing without a GPU request, even on a node without a driver', () => {
    const spec = build({ image: 'dev' }, node({}, noDriver));
    expect(spec.HostConfig.Devices).toEqual([]);
    expect((spec.HostConfig.Mounts ?? []).filter((m) => m.Type === 'bind')).toEqual([]);
  });

  it('for a CVM, refuses a device whose engine path differs from its host path (sysbox keeps host paths)', () => {
    const n = node({ hostRoot: '/var/coder/host', engineHostRoot: '/var/coder/host' });
    const error = errorOf(() => build(GPU_SPEC, n));
    expect(error).toBeInstanceOf(GpuUnsupportedError);
    expect(error.message).toBe(
      'the engine sees /dev/nvidia0 at /var/coder/host/dev/nvidia0, but sysbox passes a device only at its host path; set --engine-host-root to / for GPU CVMs',
    );
    expect(() => { precheckSpec(GPU_SPEC, n, new Map()); }).toThrow(GpuUnsupportedError);
  });

  it('for a standard workspace, rewrites device and library paths to the engine host root', () => {
    const spec = build({ ...GPU_SPEC, cvm: false }, node({ hostRoot: '/var/coder/host', engineHostRoot: '/mnt/host' }));
    expect(spec.HostConfig.Devices?.[0]).toEqual({ PathOnHost: '/mnt/host/dev/nvidia0', PathInContainer: '/dev/nvidia0', CgroupPermissions: 'rwm' });
    expect(spec.HostConfig.Mounts).toContainEqual({
      Type: 'bind',
      Source: '/mnt/host/usr/lib/x86_64-linux-gnu/libcuda.so.535.129.03',
      Target: '/usr/lib/x86_64-linux-gnu/libcuda.so.535.129.03',
      ReadOnly: true,
    });
  });

  it('for a CVM, refuses a device others cannot use (sysbox shows it as nobody:nogroup); runc makes its own node', () => {
    const gpu0 = oneGpu.gpus[0];
    if (gpu0?.device == null) throw new Error('fixture has no /dev/nvidia0');
    const locked: GpuNodeFacts = { ...oneGpu, gpus: [{ ...gpu0, device: { ...gpu0.device, mode: 0o660 } }] };
    expect(errorOf(() => build(GPU_SPEC, node({}, locked))).message).toMatch(/^\/dev\/nvidia0 on the host is mode 0660; .* others need rw/);
    expect(build({ ...GPU_SPEC, cvm: false }, node({}, locked)).HostConfig.Devices?.[0]?.PathOnHost).toBe('/dev/nvidia0');
  });

  it('checks GPU requests at PUT: refusals are GpuUnsupported (422), an unknown GPU is InvalidSpec (400)', () => {
    const refused = errorOf(() => { precheckSpec(GPU_SPEC, node({}, noDriver), new Map()); });
    expect(toErrorResponse(refused)).toEqual({
      status: 422,
      body: { error: { code: 'GpuUnsupported', message: 'no NVIDIA driver is loaded: /proc/driver/nvidia/version is missing', details: {} } },
    });
    expect(toWorkspaceFailure(refused).reason).toBe('GpuUnsupported');
    const unknown = errorOf(() => { precheckSpec({ image: 'dev', gpus: { enabled: true, visibleDevices: '1' } }, node(), new Map()); });
    expect(unknown).toBeInstanceOf(InvalidSpecError);
    expect(toErrorResponse(unknown).status).toBe(400);
    expect(errorOf(() => { precheckSpec(GPU_SPEC, node({ gpus: { enabled: false, facts: oneGpu } }), new Map()); }).message).toMatch(/disabled/);
  });

  it('refuses a GPU library target that a user mount or the home already takes', () => {
    const spec: WorkspaceSpec = { ...GPU_SPEC, home: { path: '/usr/bin/nvidia-smi' } };
    expect(errorOf(() => build(spec, node())).message).toBe('gpus: /usr/bin/nvidia-smi is already the target of home.path');
  });
});

describe('assertSafe admits NVIDIA devices by rule', () => {
  const safe = (devices: { PathOnHost: string; PathInContainer: string }[], engineHostRoot = '/') => {
    const spec: ContainerCreateSpec = {
      name: 'x',
      Image: 'x',
      Labels: {},
      HostConfig: { Devices: devices.map((d) => ({ ...d, CgroupPermissions: 'rwm' })) },
    };
    assertSafe(spec, { engineHostRoot, protectedHostPaths: [], allowedMountRoots: [] });
  };

  it.each(['/dev/nvidia0', '/dev/nvidia15', '/dev/nvidiactl', '/dev/nvidia-modeset', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-caps/nvidia-cap12'])(
    'admits %s at its own path',
    (p) => {
      expect(() => { safe([{ PathOnHost: p, PathInContainer: p }]); }).not.toThrow();
      expect(() => { safe([{ PathOnHost: `/mnt/host${p}`, PathInContainer: p }], '/mnt/host'); }).not.toThrow();
    },
  );

  it.each([
    ['/dev/nvidia0', '/dev/nvidia1'],
    ['/dev/mem', '/dev/nvidia0'],
    ['/dev/nvidia-evil', '/dev/nvidia-evil'],
    ['/dev/nvidia-caps/../mem', '/dev/nvidia-caps/../mem'],
    ['/dev/sda', '/dev/sda'],
  ])('refuses %s → %s', (onHost, inContainer) => {
    expect(() => { safe([{ PathOnHost: onHost, PathInContainer: inContainer }]); }).toThrow(UnsafeSpecError);
  });
});
