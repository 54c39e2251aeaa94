/**
 * The container spec builder: a pure function of (workspace spec, image facts, node facts). It either returns a
 * complete ContainerCreateSpec that passed assertSafe, or throws: InvalidSpecError (the request cannot work),
 * SpecRefusal (the node refuses it), UnsafeSpecError (a bug or a hostile node config; never sent to the engine).
 */
import path from 'node:path';
import type { ContainerCreateSpec, MountSpec as EngineMount } from '../engine/types.js';
import { InvalidSpecError, SpecRefusal } from '../errors.js';
import type { ImageFacts, InitMode } from '../image/facts.js';
import { isValidWorkspaceId, type WorkspaceSpec } from '../spec/workspace-spec.js';
import { deviceMappings, gpuMappings } from './device-mappings.js';
import { assertSafe } from './hardening.js';
import { normalisePath } from './host-paths.js';
import { GENERATION_LABEL, GPU_DRIVER_LABEL, instanceLabels, instanceSuffix, SPEC_HASH_LABEL, WORKSPACE_LABEL } from './labels.js';
import { assertDistinctTargets, checkTarget, planUserMounts, type ResolvedMountSources } from './mounts.js';
import type { NodeFacts } from './node-facts.js';
import { volumeLabels, volumesOf } from './volumes.js';

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
  /** The daemon's --instance; absent for the unnamed one (see labels.ts). */
  instance?: string | undefined;
}

const DOCKER_DATA_TARGET = '/var/lib/docker';
const ROOT_HOME = '/root';
/** The default user: PID 1 and the home owner are root unless the spec names a user. */
const DEFAULT_USERNAME = 'root';


/** systemd halts on it; a systemd workspace's StopSignal. */
export const SYSTEMD_STOP_SIGNAL = 'SIGRTMIN+3';
/** The container's StopTimeout by init mode: how long the engine waits after the StopSignal before SIGKILL. */
export const STOP_TIMEOUT_SECONDS: Readonly<Record<InitMode, number>> = { systemd: 30, init: 10, keepalive: 10 };

/** Daemon `instance`'s container for workspace `id` (see labels.ts, instanceSuffix). */
export function containerName(id: string, instance: string | undefined): string {
  return `cvm-${id}${instanceSuffix(instance)}`;
}

export function buildContainerSpec(input: BuildContainerSpecInput): ContainerCreateSpec {
  const { id, spec, facts, node, instance } = input;
  if (!isValidWorkspaceId(id)) throw new InvalidSpecError('id', `${id} is not a DNS label`);
  const cvm = spec.cvm ?? true;
  const runtime = runtimeFor(cvm, node);
  const pid1 = pid1For(facts);
  const user = workspaceUser(spec, facts);
  // The engine makes a volume that is missing at create with these labels; the lifecycle made and checked them before.
  const volumes = volumesOf(id, spec, instance).map(
    (use): EngineMount => ({
      Type: 'volume',
      Source: use.name,
      Target: use.where === 'home.volume' ? user.home : DOCKER_DATA_TARGET,
      VolumeOptions: { Labels: volumeLabels(id, instance) },
    }),
  );
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
    name: containerName(id, instance),
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
    Labels: {
      [WORKSPACE_LABEL]: id,
      [SPEC_HASH_LABEL]: input.specHash,
      [GENERATION_LABEL]: String(input.generation),
      ...instanceLabels(instance),
      ...(gpu.driverVersion !== null && { [GPU_DRIVER_LABEL]: gpu.driverVersion }),
    },
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
      `the engine has no ${node.cvmRuntime} runtime (it lists: ${node.runtimes.join(', ') || 'none'}); install sysbox, which registers it`,
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
