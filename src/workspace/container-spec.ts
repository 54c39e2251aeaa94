/**
 * The container spec builder: a pure function of (workspace spec, image facts, node facts). It either returns a
 * complete ContainerCreateSpec that passed assertSafe, or throws: InvalidSpecError (the request cannot work),
 * SpecRefusal (the node refuses it), UnsafeSpecError (a bug or a hostile node config; never sent to the engine).
 */
import path from 'node:path';
import type { ContainerCreateSpec, DeviceMapping, MountSpec as EngineMount } from '../engine/types.js';
import { GpuUnsupportedError } from '../gpu/errors.js';
import { planGpus } from '../gpu/plan.js';
import type { ImageFacts, InitMode, OsRelease } from '../image/facts.js';
import { GENERATION_LABEL, SPEC_HASH_LABEL, WORKSPACE_LABEL } from './labels.js';
import {
  assertDistinctTargets,
  checkTarget,
  forbiddenReason,
  planUserMounts,
  type ResolvedMountSources,
} from './mounts.js';
import { enginePathOf, hostPathOf, normalisePath, type NodeFacts } from './node-facts.js';
import { InvalidSpecError, isValidWorkspaceId, type WorkspaceSpec } from './spec.js';

export type RefusalCode = 'RuntimeMissing' | 'CvmDisabled';

/** The node refuses the request as asked (API reason codes RuntimeMissing, CvmDisabled). */
export class SpecRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'SpecRefusal';
  }
}

/** A built spec broke a safety rule. Always a bug or a hostile node config: nothing reaches the engine. */
export class UnsafeSpecError extends Error {
  constructor(readonly violation: string) {
    super(`unsafe container spec: ${violation}`);
    this.name = 'UnsafeSpecError';
  }
}

export interface BuildContainerSpecInput {
  id: string;
  spec: WorkspaceSpec;
  facts: ImageFacts;
  node: NodeFacts;
  /** The local image ID the container is made from (not the tag, which may move). */
  imageId: string;
  specHash: string;
  generation: number;
  /** realpath() of spec.mounts[].source (see mounts.ts); required when the spec has mounts. */
  mountSources?: ResolvedMountSources;
}

export const DOCKER_DATA_TARGET = '/var/lib/docker';
const ROOT_HOME = '/root';
/** The default user: PID 1 and the home owner are root unless the spec names a user. */
const DEFAULT_USERNAME = 'root';

/** FUSE and TUN; GPUs come from the GPU plan. Each device sits at the same path inside (sysbox). */
const DEVICE_PATHS = { fuse: '/dev/fuse', tun: '/dev/net/tun' } as const;
const DEVICE_MISSING_HINT = { fuse: 'load the fuse module (modprobe fuse)', tun: 'load the tun module (modprobe tun)' } as const;

/** systemd halts on it; a systemd workspace's StopSignal. */
export const SYSTEMD_STOP_SIGNAL = 'SIGRTMIN+3';
/** The container's StopTimeout by init mode: how long the engine waits after the StopSignal before SIGKILL. */
export const STOP_TIMEOUT_SECONDS: Readonly<Record<InitMode, number>> = { systemd: 30, init: 10, keepalive: 10 };

export function containerName(id: string): string {
  return `cvm-${id}`;
}

export function defaultHomeVolume(id: string): string {
  return `cvm-${id}-home`;
}

export function buildContainerSpec(input: BuildContainerSpecInput): ContainerCreateSpec {
  const { id, spec, facts, node } = input;
  if (!isValidWorkspaceId(id)) throw new InvalidSpecError('id', `${id} is not a DNS label`);
  const cvm = spec.cvm ?? true;
  const runtime = runtimeFor(cvm, node);
  const pid1 = pid1For(facts);
  const user = workspaceUser(spec, facts);
  const volume = (name: string, target: string): EngineMount => ({
    Type: 'volume',
    Source: name,
    Target: target,
    VolumeOptions: { Labels: { [WORKSPACE_LABEL]: id } },
  });

  const volumes = [volume(spec.home?.volume ?? defaultHomeVolume(id), user.home)];
  if (spec.dockerData) volumes.push(volume(spec.dockerData.volume, DOCKER_DATA_TARGET));
  const userMounts = planUserMounts(spec.mounts ?? [], input.mountSources, node);
  const gpu = gpuMappings(spec, node, cvm, facts.osRelease);
  assertDistinctTargets([
    { target: user.home, where: spec.home?.path === undefined ? 'username' : 'home.path' },
    ...(spec.dockerData ? [{ target: DOCKER_DATA_TARGET, where: 'dockerData' }] : []),
    ...userMounts.map((m, i) => ({ target: m.Target, where: `mounts[${i}].target` })),
    ...gpu.mounts.map((m) => ({ target: m.Target, where: 'gpus' })),
  ]);
  const devices = [...deviceMappings(spec, node, cvm), ...gpu.devices];

  const built: ContainerCreateSpec = {
    name: containerName(id),
    Image: input.imageId,
    Entrypoint: pid1.entrypoint,
    Cmd: pid1.cmd,
    // Sorted so the same spec always yields the same body.
    Env: Object.entries({ ...spec.env, ...gpu.env })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`),
    Hostname: spec.hostname ?? id,
    WorkingDir: spec.workdir ?? user.home,
    // Explicit, so an image's USER cannot demote PID 1 (systemd needs root; sysbox maps it to an unprivileged uid).
    User: '0:0',
    Labels: { [WORKSPACE_LABEL]: id, [SPEC_HASH_LABEL]: input.specHash, [GENERATION_LABEL]: String(input.generation) },
    StopSignal: pid1.stopSignal,
    StopTimeout: pid1.stopTimeout,
    HostConfig: {
      Runtime: runtime,
      // Explicit false too: a daemon-wide "init": true would put docker-init in front of /sbin/init.
      Init: pid1.dockerInit,
      NetworkMode: node.network,
      Mounts: [...volumes, ...userMounts, ...gpu.mounts],
      Devices: devices,
      // The daemon restarts workspaces itself, per the spec's policy, with backoff.
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
    },
  };
  if (spec.resources?.cpus !== undefined) built.HostConfig.NanoCpus = Math.round(spec.resources.cpus * 1e9);
  if (spec.resources?.memoryBytes !== undefined) built.HostConfig.Memory = spec.resources.memoryBytes;
  assertSafe(built, node);
  return built;
}

/**
 * The node-dependent checks that need no image: run at PUT, before anything is stored, so a spec the node refuses
 * never creates a container. The full build repeats them once the image's facts are known.
 */
export function precheckSpec(spec: WorkspaceSpec, node: NodeFacts, mountSources: ResolvedMountSources): void {
  const cvm = spec.cvm ?? true;
  runtimeFor(cvm, node);
  if (spec.home?.path !== undefined) checkTarget(spec.home.path, 'home.path');
  planUserMounts(spec.mounts ?? [], mountSources, node);
  deviceMappings(spec, node, cvm);
  gpuMappings(spec, node, cvm, null);
}

function runtimeFor(cvm: boolean, node: NodeFacts): string {
  if (!cvm) return 'runc';
  if (!node.cvmEnabled) {
    throw new SpecRefusal('CvmDisabled', 'CVMs are disabled on this node; ask for a standard workspace with cvm: false');
  }
  if (!node.runtimes.includes(node.cvmRuntime)) {
    throw new SpecRefusal(
      'RuntimeMissing',
      `the engine has no ${node.cvmRuntime} runtime (it lists: ${node.runtimes.join(', ') || 'none'}); install sysbox on the node`,
    );
  }
  return node.cvmRuntime;
}

interface Pid1 {
  entrypoint: string[];
  cmd: string[];
  stopSignal: string;
  stopTimeout: number;
  dockerInit: boolean;
}

function pid1For(facts: ImageFacts): Pid1 {
  switch (facts.init.mode) {
    case 'systemd':
      // Sysbox treats a container as systemd only when PID 1 is literally /sbin/init. SIGRTMIN+3 is systemd's halt.
      return { entrypoint: ['/sbin/init'], cmd: [], stopSignal: SYSTEMD_STOP_SIGNAL, stopTimeout: STOP_TIMEOUT_SECONDS.systemd, dockerInit: false };
    case 'init':
      // busybox init powers off on SIGUSR2 and exits, with or without CAP_SYS_BOOT (SIGTERM would mean reboot).
      // Other inits get Docker's SIGTERM; the engine kills them after the timeout if they ignore it.
      return {
        entrypoint: ['/sbin/init'],
        cmd: [],
        stopSignal: facts.init.target !== null && path.posix.basename(facts.init.target) === 'busybox' ? 'SIGUSR2' : 'SIGTERM',
        stopTimeout: STOP_TIMEOUT_SECONDS.init,
        dockerInit: false,
      };
    case 'keepalive':
      if (facts.sleepPath === null) {
        throw new InvalidSpecError(
          'image',
          `has no /sbin/init (${facts.init.reason ?? 'missing'}) and no sleep binary for a keep-alive PID 1; add one of them to the image`,
        );
      }
      // Docker's init reaps zombies and forwards SIGTERM, which ends `sleep infinity` (GNU and busybox alike).
      return { entrypoint: [facts.sleepPath], cmd: ['infinity'], stopSignal: 'SIGTERM', stopTimeout: STOP_TIMEOUT_SECONDS.keepalive, dockerInit: true };
  }
}

/** The workspace user's home: spec.home.path, else /root for root, else the image's /etc/passwd entry. */
function workspaceUser(spec: WorkspaceSpec, facts: ImageFacts): { name: string; home: string } {
  const name = spec.username ?? DEFAULT_USERNAME;
  const entry = facts.users.find((u) => u.name === name);
  // root is uid 0 whether or not the image has an /etc/passwd; any other user must be in it.
  if (entry === undefined && name !== DEFAULT_USERNAME) {
    throw new InvalidSpecError('username', `${name} does not exist in the image's /etc/passwd`);
  }
  if (spec.home?.path !== undefined) {
    checkTarget(spec.home.path, 'home.path');
    return { name, home: spec.home.path };
  }
  const home = name === DEFAULT_USERNAME ? ROOT_HOME : (entry?.home ?? '');
  const usable = home.startsWith('/') && normalisePath(home) !== '/';
  if (!usable) {
    throw new InvalidSpecError('username', `${name}'s home in /etc/passwd (${home || 'empty'}) cannot hold the home volume; set home.path`);
  }
  const normalHome = normalisePath(home);
  checkTarget(normalHome, 'username');
  return { name, home: normalHome };
}

function deviceMappings(spec: WorkspaceSpec, node: NodeFacts, cvm: boolean): DeviceMapping[] {
  const kinds = (['fuse', 'tun'] as const).filter((kind) => spec.devices?.[kind] === true);
  return kinds.map((kind) => {
    const where = `devices.${kind}`;
    const expected = DEVICE_PATHS[kind];
    const device = node.devices[kind];
    if (device === null) throw new InvalidSpecError(where, `the node has no ${expected}; ${DEVICE_MISSING_HINT[kind]}`);
    const hostPath = hostPathOf(device.path, node.hostRoot);
    if (hostPath !== expected) {
      throw new InvalidSpecError(where, `the node's device ${device.path} is not ${expected} under the host root ${node.hostRoot}`);
    }
    const enginePath = enginePathOf(hostPath, node.engineHostRoot);
    // Sysbox bind-mounts the host's node (a renamed mapping fails) and shows it as nobody:nogroup inside.
    // runc makes its own node owned by the container's real root, so neither rule applies to cvm: false.
    if (cvm) {
      const permissions = device.mode & 0o777;
      if ((permissions & 0o006) !== 0o006) {
        const octal = permissions.toString(8).padStart(4, '0');
        throw new InvalidSpecError(
          where,
          `${expected} on the host is mode ${octal}; sysbox shows it as nobody:nogroup inside, so others need rw: chmod 0666 ${expected} on the node`,
        );
      }
      if (enginePath !== expected) {
        throw new InvalidSpecError(
          where,
          `the engine sees ${expected} at ${enginePath}, but sysbox passes a device only at its host path; set --engine-host-root to /`,
        );
      }
    }
    return { PathOnHost: enginePath, PathInContainer: expected, CgroupPermissions: 'rwm' };
  });
}

/**
 * The GPU plan as engine fields: devices at their host paths, the driver's files as read-only binds, and env.
 * For a CVM, sysbox bind-mounts a device's host node and shows it as nobody:nogroup inside: the engine must see it
 * at its host path, and others need the access the workspace opens it with. runc (cvm: false) makes its own nodes.
 */
function gpuMappings(
  spec: WorkspaceSpec,
  node: NodeFacts,
  cvm: boolean,
  osRelease: OsRelease | null,
): { devices: DeviceMapping[]; mounts: EngineMount[]; env: Record<string, string> } {
  const plan = planGpus(spec, node.gpus, osRelease);
  if (plan === null) return { devices: [], mounts: [], env: {} };
  const devices = plan.devices.map((device): DeviceMapping => {
    const enginePath = enginePathOf(device.hostPath, node.engineHostRoot);
    if (cvm) {
      const needed = device.access === 'rw' ? 0o006 : 0o004;
      if ((device.mode & needed) !== needed) {
        const octal = (device.mode & 0o777).toString(8).padStart(4, '0');
        throw new GpuUnsupportedError(
          `${device.hostPath} on the host is mode ${octal}; sysbox shows it as nobody:nogroup inside, so others need ${device.access}: ` +
            'load the driver with NVreg_DeviceFileMode=0666 (or chmod the node)',
        );
      }
      if (enginePath !== device.hostPath) {
        throw new GpuUnsupportedError(
          `the engine sees ${device.hostPath} at ${enginePath}, but sysbox passes a device only at its host path; set --engine-host-root to / for GPU CVMs`,
        );
      }
    }
    return { PathOnHost: enginePath, PathInContainer: device.hostPath, CgroupPermissions: 'rwm' };
  });
  const mounts = plan.mounts.map(
    (m): EngineMount => ({ Type: 'bind', Source: enginePathOf(m.hostPath, node.engineHostRoot), Target: m.target, ReadOnly: true }),
  );
  return { devices, mounts, env: plan.env };
}

const NAMESPACE_MODES = ['NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UtsMode', 'UsernsMode'] as const;
/**
 * Fields that would widen what the workspace may do; the builder never sets them. `SecurityOpt` as a whole, so
 * neither `seccomp=unconfined` nor `apparmor=unconfined` (nor `label=disable`) can slip in; `Capabilities` replaces
 * the whole capability set (API 1.40+), so it is refused like CapAdd.
 */
const FORBIDDEN_HOST_CONFIG = ['Binds', 'VolumesFrom', 'CapAdd', 'Capabilities', 'SecurityOpt', 'DeviceCgroupRules', 'DeviceRequests'] as const;
const ALLOWED_DEVICES: ReadonlySet<string> = new Set(Object.values(DEVICE_PATHS));
const ALLOWED_MOUNT_TYPES: ReadonlySet<string> = new Set(['bind', 'volume', 'tmpfs']);
/** NVIDIA's device nodes, admitted by name: GPUs, control, modeset, UVM and MIG capabilities. */
const NVIDIA_DEVICE = /^\/dev\/(nvidia\d+|nvidiactl|nvidia-modeset|nvidia-uvm|nvidia-uvm-tools|nvidia-caps\/nvidia-cap\d+)$/;

/**
 * The hardening policy of the inner container, the last line of defence, run on every built spec (and, in the
 * integration tests, on the engine's own inspect document):
 * - never Privileged; no host (or another container's) network, pid, ipc, uts or user namespace;
 * - no CapAdd or Capabilities (sysbox needs none: it grants capabilities inside its own user namespace);
 * - no SecurityOpt at all, so no seccomp=unconfined or apparmor=unconfined;
 * - no Binds/VolumesFrom; bind mounts only of allowed host paths, never the engine socket, /proc, /sys, /dev, /,
 *   the engine's data or the daemon's own files; no mount propagation back to the host; no volume driver options
 *   (a `local` volume with `o=bind` is a bind mount in disguise);
 * - no devices except the whitelisted FUSE, TUN and NVIDIA nodes at their host paths; no DeviceRequests or cgroup rules.
 *
 * no-new-privileges is deliberately not set (and SecurityOpt is refused, so it cannot be set): a workspace is a VM
 * to its user, whose sudo, su, ping, newuidmap and the inner Docker's setuid helpers need setuid to work. Under
 * sysbox the container's root is already an unprivileged host uid (user namespace), so setuid inside reaches only
 * that root, which PID 1 already is (API.md); the flag would draw a line the product promises not to draw. For a
 * standard workspace (runc, no user namespace) PID 1 is root inside too, so the flag would not change who is root.
 * It reads HostConfig as a plain record because the engine adapter passes the body through unchanged, fields the
 * type lacks included.
 */
export function assertSafe(spec: ContainerCreateSpec, node: Pick<NodeFacts, 'engineHostRoot' | 'protectedHostPaths'>): void {
  const host = spec.HostConfig as Record<string, unknown>;
  if (host['Privileged'] !== undefined && host['Privileged'] !== false) throw new UnsafeSpecError('Privileged is set');
  for (const field of NAMESPACE_MODES) {
    const mode = host[field];
    if (typeof mode === 'string' && (mode === 'host' || mode.startsWith('container:'))) {
      throw new UnsafeSpecError(`${field} is ${mode}`);
    }
  }
  for (const field of FORBIDDEN_HOST_CONFIG) {
    const value = host[field];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) {
      throw new UnsafeSpecError(`${field} is set`);
    }
  }
  for (const mount of spec.HostConfig.Mounts ?? []) {
    mountViolation(mount as unknown as Record<string, unknown>);
    if (mount.Type !== 'bind') continue;
    const hostPath = hostPathOf(mount.Source ?? '', node.engineHostRoot);
    if (hostPath === null) throw new UnsafeSpecError(`bind source ${mount.Source ?? '(none)'} lies outside the engine's host root`);
    const reason = forbiddenReason(hostPath, node.protectedHostPaths);
    if (reason !== null) throw new UnsafeSpecError(`bind source ${hostPath}: ${reason}`);
  }
  for (const device of spec.HostConfig.Devices ?? []) {
    const onHost = hostPathOf(device.PathOnHost, node.engineHostRoot);
    const known = ALLOWED_DEVICES.has(device.PathInContainer) || NVIDIA_DEVICE.test(device.PathInContainer);
    if (!known || onHost !== device.PathInContainer) {
      throw new UnsafeSpecError(`device ${device.PathOnHost} → ${device.PathInContainer} is not allowed`);
    }
  }
}

/** Mount fields that would reach past the mount itself: propagation to the host, volume driver options. */
function mountViolation(mount: Record<string, unknown>): void {
  const type = String(mount['Type']);
  if (!ALLOWED_MOUNT_TYPES.has(type)) throw new UnsafeSpecError(`mount type ${type} is not allowed`);
  const propagation = (mount['BindOptions'] as { Propagation?: unknown } | undefined)?.Propagation;
  if (propagation !== undefined && propagation !== '' && propagation !== 'rprivate' && propagation !== 'private') {
    throw new UnsafeSpecError(`bind propagation ${JSON.stringify(propagation)} is not allowed`);
  }
  const driverConfig = (mount['VolumeOptions'] as { DriverConfig?: unknown } | undefined)?.DriverConfig;
  if (driverConfig !== undefined && driverConfig !== null) {
    throw new UnsafeSpecError(`volume driver options are not allowed (target ${String(mount['Target'])})`);
  }
}
