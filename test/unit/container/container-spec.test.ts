import { describe, expect, it } from 'vitest';
import { buildContainerSpec, type BuildContainerSpecInput, precheckSpec } from '../../../src/container/container-spec.js';
import { assertSafe, UnsafeSpecError } from '../../../src/container/hardening.js';
import { GENERATION_LABEL, SPEC_HASH_LABEL, WORKSPACE_LABEL } from '../../../src/container/labels.js';
import type { NodeFacts } from '../../../src/container/node-facts.js';
import type { ContainerCreateSpec } from '../../../src/engine/types.js';
import { InvalidSpecError, SpecRefusal } from '../../../src/errors.js';
import type { ImageFacts, InitInfo } from '../../../src/image/facts.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';

const SYSTEMD: InitInfo = { mode: 'systemd', path: '/sbin/init', target: '/usr/lib/systemd/systemd', reason: null };
const BUSYBOX_INIT: InitInfo = { mode: 'init', path: '/sbin/init', target: '/bin/busybox', reason: null };
const OTHER_INIT: InitInfo = { mode: 'init', path: '/sbin/init', target: '/sbin/openrc-init', reason: null };
const NO_INIT: InitInfo = { mode: 'keepalive', path: '/sbin/init', target: null, reason: 'missing' };

function facts(overrides: Partial<ImageFacts> = {}): ImageFacts {
  return {
    imageId: 'sha256:abc',
    init: SYSTEMD,
    osRelease: null,
    users: [
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
      { name: 'coder', uid: 1000, gid: 1000, home: '/home/coder', shell: '/bin/bash' },
      { name: 'nobody', uid: 65534, gid: 65534, home: '/', shell: '/usr/sbin/nologin' },
    ],
    sleepPath: '/bin/sleep',
    ...overrides,
  };
}

function node(overrides: Partial<NodeFacts> = {}): NodeFacts {
  return {
    cvmRuntime: 'sysbox-runc',
    runtimes: ['io.containerd.runc.v2', 'runc', 'sysbox-runc'],
    cvmEnabled: true,
    network: 'bridge',
    hostRoot: '/',
    engineHostRoot: '/',
    devices: { fuse: { path: '/dev/fuse', mode: 0o666 }, tun: { path: '/dev/net/tun', mode: 0o666 } },
    allowedMountRoots: ['/srv/shared'],
    protectedHostPaths: ['/var/lib/cvm-supervisor', '/var/lib/docker'],
    ...overrides,
  };
}

function input(spec: Partial<WorkspaceSpec> = {}, overrides: Partial<BuildContainerSpecInput> = {}): BuildContainerSpecInput {
  return {
    id: 'dev-1',
    spec: { image: 'example/dev:latest', ...spec },
    facts: facts(),
    node: node(),
    imageId: 'sha256:abc',
    specHash: 'f00d',
    generation: 3,
    ...overrides,
  };
}

function build(spec: Partial<WorkspaceSpec> = {}, overrides: Partial<BuildContainerSpecInput> = {}): ContainerCreateSpec {
  return buildContainerSpec(input(spec, overrides));
}

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function invalidPath(spec: Partial<WorkspaceSpec>, overrides: Partial<BuildContainerSpecInput> = {}): [string, string] {
  const error = errorOf(() => build(spec, overrides));
  if (!(error instanceof InvalidSpecError)) throw error;
  return [error.path, error.message];
}

describe('runtime', () => {
  it.each<[string, Partial<WorkspaceSpec>, Partial<NodeFacts>, string]>([
    ['cvm by default', {}, {}, 'sysbox-runc'],
    ['cvm: true', { cvm: true }, {}, 'sysbox-runc'],
    ['a configured CVM runtime name', {}, { cvmRuntime: 'sysbox-runc-067', runtimes: ['runc', 'sysbox-runc-067'] }, 'sysbox-runc-067'],
    ['cvm: false', { cvm: false }, {}, 'runc'],
    ['cvm: false on a node without sysbox and with CVMs off', { cvm: false }, { cvmEnabled: false, runtimes: ['runc'] }, 'runc'],
  ])('%s → %s', (_name, spec, nodeOverrides, runtime) => {
    expect(build(spec, { node: node(nodeOverrides) }).HostConfig.Runtime).toBe(runtime);
  });

  it.each<[string, Partial<WorkspaceSpec>, Partial<NodeFacts>, string]>([
    ['CVMs disabled', {}, { cvmEnabled: false }, 'CvmDisabled'],
    ['CVMs disabled and runtime missing', { cvm: true }, { cvmEnabled: false, runtimes: ['runc'] }, 'CvmDisabled'],
    ['runtime missing', {}, { runtimes: ['runc'] }, 'RuntimeMissing'],
    ['another runtime configured than the engine has', {}, { cvmRuntime: 'sysbox-runc-067' }, 'RuntimeMissing'],
  ])('refuses: %s → %s', (_name, spec, nodeOverrides, code) => {
    const error = errorOf(() => build(spec, { node: node(nodeOverrides) }));
    expect(error).toBeInstanceOf(SpecRefusal);
    expect((error as SpecRefusal).code).toBe(code);
  });
});

describe('PID 1', () => {
  it.each([
    ['systemd', SYSTEMD, ['/sbin/init'], [], 'SIGRTMIN+3', 30, false],
    ['busybox init', BUSYBOX_INIT, ['/sbin/init'], [], 'SIGUSR2', 10, false],
    ['another init', OTHER_INIT, ['/sbin/init'], [], 'SIGTERM', 10, false],
    ['no init: keep-alive sleep under docker-init', NO_INIT, ['/bin/sleep'], ['infinity'], 'SIGTERM', 10, true],
  ] as const)('%s', (_name, init, entrypoint, cmd, stopSignal, stopTimeout, dockerInit) => {
    const built = build({}, { facts: facts({ init }) });
    expect(built.Entrypoint).toEqual(entrypoint);
    expect(built.Cmd).toEqual(cmd);
    expect(built.StopSignal).toBe(stopSignal);
    expect(built.StopTimeout).toBe(stopTimeout);
    expect(built.HostConfig.Init).toBe(dockerInit);
  });

  it('uses the image sleep path as found', () => {
    expect(build({}, { facts: facts({ init: NO_INIT, sleepPath: '/usr/bin/sleep' }) }).Entrypoint).toEqual(['/usr/bin/sleep']);
  });

  it('refuses an image with neither init nor sleep', () => {
    const [path, message] = invalidPath({}, { facts: facts({ init: NO_INIT, sleepPath: null }) });
    expect(path).toBe('image');
    expect(message).toMatch(/no \/sbin\/init .*no sleep binary/);
  });

  it('runs PID 1 as root whatever the image or username says', () => {
    expect(build({ username: 'coder' }).User).toBe('0:0');
  });
});

describe('user and home', () => {
  it.each([
    ['no username: root', {}, '/root', '/root'],
    ['username from passwd', { username: 'coder' }, '/home/coder', '/home/coder'],
    ['home.path overrides passwd', { username: 'coder', home: { path: '/workspace' } }, '/workspace', '/workspace'],
    ['workdir overrides home', { username: 'coder', workdir: '/src' }, '/home/coder', '/src'],
  ] as const)('%s', (_name, spec, home, workdir) => {
    const built = build(spec);
    expect(built.HostConfig.Mounts?.[0]).toEqual({
      Type: 'volume',
      Source: 'cvm-dev-1-home',
      Target: home,
      VolumeOptions: { Labels: { [WORKSPACE_LABEL]: 'dev-1' } },
    });
    expect(built.WorkingDir).toBe(workdir);
  });

  it('root needs no passwd entry (a bare busybox image has none)', () => {
    expect(build({}, { facts: facts({ users: [] }) }).HostConfig.Mounts?.[0]?.Target).toBe('/root');
  });

  it('uses the named home volume', () => {
    expect(build({ home: { volume: 'ws-home' } }).HostConfig.Mounts?.[0]?.Source).toBe('ws-home');
  });

  it.each([
    ['an unknown user', { username: 'alice' }, 'username', /alice does not exist/],
    ['a user whose home is /', { username: 'nobody' }, 'username', /cannot hold the home volume/],
    ['home.path under /proc', { home: { path: '/proc/x' } }, 'home.path', /would shadow \/proc/],
  ] as const)('refuses %s', (_name, spec, path, message) => {
    const [errorPath, errorMessage] = invalidPath(spec);
    expect(errorPath).toBe(path);
    expect(errorMessage).toMatch(message);
  });
});

describe('volumes, env, hostname, resources, network, labels, name', () => {
  it('mounts dockerData at /var/lib/docker, labelled', () => {
    expect(build({ dockerData: { volume: 'ws-docker' } }).HostConfig.Mounts?.[1]).toEqual({
      Type: 'volume',
      Source: 'ws-docker',
      Target: '/var/lib/docker',
      VolumeOptions: { Labels: { [WORKSPACE_LABEL]: 'dev-1' } },
    });
  });

  it('sorts env by name whatever the spec order', () => {
    expect(build({ env: { ZED: '1', ALPHA: 'a=b', MID: '' } }).Env).toEqual(['ALPHA=a=b', 'MID=', 'ZED=1']);
  });

  it.each([
    [{}, 'dev-1'],
    [{ hostname: 'box.example.com' }, 'box.example.com'],
  ])('hostname of %j is %s', (spec, hostname) => {
    expect(build(spec).Hostname).toBe(hostname);
  });

  it.each([
    [{ cpus: 1.5 }, 1_500_000_000, undefined],
    [{ cpus: 0.0000000015 }, 2, undefined],
    [{ memoryBytes: 4294967296 }, undefined, 4294967296],
    [{}, undefined, undefined],
  ])('resources %j → NanoCpus %s, Memory %s', (resources, nanoCpus, memory) => {
    const built = build({ resources });
    expect(built.HostConfig.NanoCpus).toBe(nanoCpus);
    expect(built.HostConfig.Memory).toBe(memory);
  });

  it('joins the node network, names the container after the id, labels it and uses the image ID', () => {
    const built = build({}, { node: node({ network: 'cvm-net' }), imageId: 'sha256:def', specHash: 'beef', generation: 7 });
    expect(built.HostConfig.NetworkMode).toBe('cvm-net');
    expect(built.name).toBe('cvm-dev-1');
    expect(built.Image).toBe('sha256:def');
    expect(built.Labels).toEqual({ [WORKSPACE_LABEL]: 'dev-1', [SPEC_HASH_LABEL]: 'beef', [GENERATION_LABEL]: '7' });
    expect(built.HostConfig.RestartPolicy).toEqual({ Name: 'no' });
  });

  it('refuses an id that is not a DNS label', () => {
    expect(errorOf(() => buildContainerSpec({ ...input(), id: '../x' }))).toBeInstanceOf(InvalidSpecError);
  });
});

describe('user mounts', () => {
  const mountSources = new Map([
    ['/srv/shared/data', '/srv/shared/data'],
    ['/srv/shared/link', '/run/docker.sock'],
  ]);

  it('binds a resolved source under an allowed root', () => {
    const built = build(
      { mounts: [{ source: '/srv/shared/data', target: '/data', readOnly: true }] },
      { mountSources },
    );
    expect(built.HostConfig.Mounts?.[1]).toEqual({ Type: 'bind', Source: '/srv/shared/data', Target: '/data', ReadOnly: true });
  });

  it.each([
    ['a symlink resolved to the engine socket', [{ source: '/srv/shared/link', target: '/x' }], 'mounts[0].source', /resolves to \/run\/docker\.sock.*not allowed/],
    ['no resolution passed in', [{ source: '/srv/shared/other', target: '/x' }], 'mounts[0].source', /not resolved/],
    ['a target on the home', [{ source: '/srv/shared/data', target: '/root' }], 'mounts[0].target', /already the target of username/],
    ['a second mount on one target', [{ source: '/srv/shared/data', target: '/a' }, { source: '/srv/shared/data', target: '/a' }], 'mounts[1].target', /already/],
    ['a target under /sys', [{ source: '/srv/shared/data', target: '/sys/fs' }], 'mounts[0].target', /shadow \/sys/],
  ])('refuses %s', (_name, mounts, path, message) => {
    const [errorPath, errorMessage] = invalidPath({ mounts }, { mountSources });
    expect(errorPath).toBe(path);
    expect(errorMessage).toMatch(message);
  });

  it('refuses a target on /var/lib/docker when dockerData uses it', () => {
    const [path] = invalidPath(
      { dockerData: { volume: 'd' }, mounts: [{ source: '/srv/shared/data', target: '/var/lib/docker' }] },
      { mountSources },
    );
    expect(path).toBe('mounts[0].target');
  });
});

describe('FUSE and TUN', () => {
  it.each([
    ['fuse', { fuse: true }, [['/dev/fuse', '/dev/fuse']]],
    ['tun', { tun: true }, [['/dev/net/tun', '/dev/net/tun']]],
    ['both', { fuse: true, tun: true }, [['/dev/fuse', '/dev/fuse'], ['/dev/net/tun', '/dev/net/tun']]],
    ['neither', { fuse: false }, []],
  ] as const)('%s', (_name, devices, mapped) => {
    expect(build({ devices }).HostConfig.Devices).toEqual(
      mapped.map(([onHost, inside]) => ({ PathOnHost: onHost, PathInContainer: inside, CgroupPermissions: 'rwm' })),
    );
  });

  it('reads the device under the host root and keeps its host path inside', () => {
    const nodeFacts = node({
      hostRoot: '/host',
      devices: { fuse: { path: '/host/dev/fuse', mode: 0o20666 }, tun: null },
    });
    expect(build({ devices: { fuse: true } }, { node: nodeFacts }).HostConfig.Devices).toEqual([
      { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
    ]);
  });

  it('rewrites to the engine host root for runc, where a renamed mapping works', () => {
    const nodeFacts = node({ hostRoot: '/host', engineHostRoot: '/host', devices: { fuse: { path: '/host/dev/fuse', mode: 0o600 }, tun: null } });
    expect(build({ cvm: false, devices: { fuse: true } }, { node: nodeFacts }).HostConfig.Devices).toEqual([
      { PathOnHost: '/host/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
    ]);
  });

  it.each([
    ['fuse at 0600 (others lack rw)', { fuse: true }, { fuse: { path: '/dev/fuse', mode: 0o600 }, tun: null }, 'devices.fuse', /mode 0600; sysbox shows it as nobody:nogroup.*chmod 0666 \/dev\/fuse/],
    ['tun at 0664 (others lack w)', { tun: true }, { fuse: null, tun: { path: '/dev/net/tun', mode: 0o664 } }, 'devices.tun', /mode 0664.*chmod 0666 \/dev\/net\/tun/],
    ['fuse missing on the node', { fuse: true }, { fuse: null, tun: null }, 'devices.fuse', /no \/dev\/fuse.*modprobe fuse/],
    ['tun missing on the node', { tun: true }, { fuse: null, tun: null }, 'devices.tun', /no \/dev\/net\/tun/],
  ] as const)('refuses %s', (_name, devices, nodeDevices, path, message) => {
    const [errorPath, errorMessage] = invalidPath({ devices }, { node: node({ devices: nodeDevices }) });
    expect(errorPath).toBe(path);
    expect(errorMessage).toMatch(message);
  });

  it('refuses a CVM device the engine would see at another path (sysbox needs the same path)', () => {
    const nodeFacts = node({ hostRoot: '/host', engineHostRoot: '/host', devices: { fuse: { path: '/host/dev/fuse', mode: 0o666 }, tun: null } });
    const [path, message] = invalidPath({ devices: { fuse: true } }, { node: nodeFacts });
    expect(path).toBe('devices.fuse');
    expect(message).toMatch(/engine sees \/dev\/fuse at \/host\/dev\/fuse/);
  });
});

describe('safety', () => {
  it.each([
    ['host', 'NetworkMode is host'],
    ['container:cvm-supervisor', 'NetworkMode is container:cvm-supervisor'],
  ])('refuses node network %s', (network, violation) => {
    const error = errorOf(() => build({}, { node: node({ network }) }));
    expect(error).toBeInstanceOf(UnsafeSpecError);
    expect((error as UnsafeSpecError).violation).toBe(violation);
  });

  it('refuses a direct mount of the engine socket', () => {
    const [path, message] = invalidPath(
      { mounts: [{ source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] },
      { mountSources: new Map([['/var/run/docker.sock', '/run/docker.sock']]), node: node({ allowedMountRoots: ['/'] }) },
    );
    expect(path).toBe('mounts[0].source');
    expect(message).toMatch(/not allowed/);
  });

  it('passes what the builder makes, hostile-looking but legitimate inputs included', () => {
    const built = build(
      { cvm: false, devices: { fuse: true, tun: true }, mounts: [{ source: '/srv/shared/data', target: '/etc/shared' }] },
      { mountSources: new Map([['/srv/shared/data', '/srv/shared/data']]) },
    );
    expect(() => { assertSafe(built, node()); }).not.toThrow();
  });

  const engineView = { engineHostRoot: '/', protectedHostPaths: ['/var/lib/cvm-supervisor'], allowedMountRoots: ['/srv'] };
  it.each([
    ['Privileged', { Privileged: true }, 'Privileged is set'],
    ['PidMode host', { PidMode: 'host' }, 'PidMode is host'],
    ['IpcMode host', { IpcMode: 'host' }, 'IpcMode is host'],
    ['UTSMode host', { UTSMode: 'host' }, 'UTSMode is host'],
    ['UsernsMode host', { UsernsMode: 'host' }, 'UsernsMode is host'],
    ['NetworkMode host', { NetworkMode: 'host' }, 'NetworkMode is host'],
    ['Binds', { Binds: ['/var/run/docker.sock:/var/run/docker.sock'] }, 'Binds is set'],
    ['CapAdd', { CapAdd: ['SYS_ADMIN'] }, 'CapAdd is set'],
    ['SecurityOpt', { SecurityOpt: ['seccomp=unconfined'] }, 'SecurityOpt is set'],
    ['apparmor unconfined', { SecurityOpt: ['apparmor=unconfined'] }, 'SecurityOpt is set'],
    ['no-new-privileges (decided against)', { SecurityOpt: ['no-new-privileges'] }, 'SecurityOpt is set'],
    ['Capabilities', { Capabilities: ['CAP_SYS_ADMIN'] }, 'Capabilities is set'],
    ['DeviceRequests', { DeviceRequests: [{ Driver: 'nvidia', Count: -1 }] }, 'DeviceRequests is set'],
    ['cgroup device rules', { DeviceCgroupRules: ['c 1:* rwm'] }, 'DeviceCgroupRules is set'],
    ['shared propagation', { Mounts: [{ Type: 'bind', Source: '/srv/x', Target: '/s', BindOptions: { Propagation: 'rshared' } }] }, 'bind propagation "rshared" is not allowed'],
    ['a bind in disguise', { Mounts: [{ Type: 'volume', Source: 'v', Target: '/s', VolumeOptions: { DriverConfig: { Name: 'local', Options: { type: 'none', o: 'bind', device: '/var/run' } } } }] }, 'volume driver options are not allowed (target /s)'],
    ['npipe mount', { Mounts: [{ Type: 'npipe', Source: '//./pipe/docker_engine', Target: '/s' }] }, 'mount type npipe is not allowed'],
    ['engine data root', { Mounts: [{ Type: 'bind', Source: '/var/lib/docker/volumes', Target: '/s' }] }, 'bind source /var/lib/docker/volumes: it lies in /var/lib/docker'],
    ['socket bind', { Mounts: [{ Type: 'bind', Source: '/srv/x/docker.sock', Target: '/s' }] }, 'bind source /srv/x/docker.sock: it is an engine socket'],
    ['containerd socket', { Mounts: [{ Type: 'bind', Source: '/run/containerd/containerd.sock', Target: '/s' }] }, 'bind source /run/containerd/containerd.sock: it is an engine socket'],
    ['engine data root parent', { Mounts: [{ Type: 'bind', Source: '/var/lib', Target: '/s' }] }, 'bind source /var/lib: it contains /var/lib/docker'],
    ['state dir', { Mounts: [{ Type: 'bind', Source: '/var/lib/cvm-supervisor/workspaces', Target: '/s' }] }, 'bind source /var/lib/cvm-supervisor/workspaces: it lies in /var/lib/cvm-supervisor'],
    ['host root', { Mounts: [{ Type: 'bind', Source: '/', Target: '/h' }] }, 'bind source /: it is the host root'],
    ['a bind outside the allowed roots', { Mounts: [{ Type: 'bind', Source: '/opt/data', Target: '/s' }] }, 'bind source /opt/data: it is not under an allowed mount root (/srv)'],
    ['a system library that is no driver file', { Mounts: [{ Type: 'bind', Source: '/usr/lib/x86_64-linux-gnu/libc.so.6', Target: '/s', ReadOnly: true }] }, 'bind source /usr/lib/x86_64-linux-gnu/libc.so.6: it lies in /usr'],
    ['renamed device', { Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }] }, 'device /dev/sda → /dev/fuse is not allowed'],
    ['unknown device', { Devices: [{ PathOnHost: '/dev/mem', PathInContainer: '/dev/mem', CgroupPermissions: 'r' }] }, 'device /dev/mem → /dev/mem is not allowed'],
  ])('assertSafe refuses %s', (_name, hostConfig, violation) => {
    const hostile = { ...build(), HostConfig: { ...build().HostConfig, ...hostConfig } } as ContainerCreateSpec;
    const error = errorOf(() => { assertSafe(hostile, engineView); });
    expect(error).toBeInstanceOf(UnsafeSpecError);
    expect((error as UnsafeSpecError).violation).toBe(violation);
  });

  it('assertSafe refuses a bind outside the engine host root (the supervisor container’s own files)', () => {
    const spec = build();
    spec.HostConfig.Mounts = [{ Type: 'bind', Source: '/var/lib/cvm-supervisor', Target: '/s' }];
    const error = errorOf(() => { assertSafe(spec, { engineHostRoot: '/host', protectedHostPaths: [], allowedMountRoots: ['/'] }); });
    expect((error as UnsafeSpecError).violation).toMatch(/outside the engine's host root/);
  });
});

describe('precheckSpec (at PUT, before anything is stored)', () => {
  it.each(['/proc', '/dev/x', '/sys/fs'])('refuses a home path %s that would shadow a kernel interface', (homePath) => {
    const error = errorOf(() => { precheckSpec({ image: 'busybox', cvm: false, home: { path: homePath } }, node(), new Map()); });
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect((error as InvalidSpecError).path).toBe('home.path');
  });

  it('accepts an ordinary home path', () => {
    expect(() => { precheckSpec({ image: 'busybox', cvm: false, home: { path: '/home/coder' } }, node(), new Map()); }).not.toThrow();
  });
});
