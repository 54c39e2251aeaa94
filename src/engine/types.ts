/**
 * The engine facade. Everything outside src/engine talks to the container engine through these interfaces, one
 * slice per concern (system, images, containers, archive, exec, volumes, events); only src/engine/docker.ts knows
 * about dockerode. Field names of ContainerCreateSpec follow the Docker Engine API so the adapter can pass the body
 * through unchanged.
 */

export interface EngineInfo {
  serverVersion: string;
  apiVersion: string;
  runtimes: string[];
  kernelVersion: string;
  cgroupVersion: string;
  operatingSystem: string;
  /** Where the engine keeps images (`/var/lib/docker`), as the engine sees it. */
  dockerRootDir?: string;
}

/** One local image as `GET /images/json` lists it. */
export interface ImageSummary {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  sizeBytes: number;
}

export interface ImageDetails {
  id: string;
  repoDigests: string[];
  sizeBytes: number;
  config: { entrypoint: string[] | null; cmd: string[] | null; env: string[]; stopSignal: string | null };
  /** The overlay2 driver's layer `diff` directories, top first, in the engine's view; absent for other drivers. */
  layerDirs?: string[];
}

/** One line of the engine's pull stream, already checked for `{"error":...}` lines. */
export interface PullProgressEvent {
  layer: string | null;
  status: string;
  current: number | null;
  total: number | null;
}

export interface PullOptions {
  /** X-Registry-Auth payload: username/password/serveraddress or identitytoken. */
  auth?: { username?: string; password?: string; identitytoken?: string; serveraddress: string };
  signal?: AbortSignal;
  onProgress?: (event: PullProgressEvent) => void;
}

/** `HEAD /containers/{id}/archive` result: the X-Docker-Container-Path-Stat header. */
export interface PathStat {
  name: string;
  size: number;
  /** Go os.FileMode bits: the permission bits plus type flags (see image/filemode.ts). */
  mode: number;
  linkTarget: string;
}

export interface MountSpec {
  Type: 'volume' | 'bind' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { Labels?: Record<string, string>; NoCopy?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface ContainerCreateSpec {
  name: string;
  Image: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  Hostname?: string;
  WorkingDir?: string;
  User?: string;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  OpenStdin?: boolean;
  HostConfig: {
    Runtime?: string;
    Init?: boolean;
    NetworkMode?: string;
    Mounts?: MountSpec[];
    Devices?: DeviceMapping[];
    DeviceCgroupRules?: string[];
    NanoCpus?: number;
    CpuPeriod?: number;
    CpuQuota?: number;
    Memory?: number;
    Tmpfs?: Record<string, string>;
    CapAdd?: string[];
    SecurityOpt?: string[];
    RestartPolicy?: { Name: 'no' };
    AutoRemove?: boolean;
  };
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  /** created, running, paused, restarting, removing, exited, dead */
  state: string;
}

export interface ContainerDetails {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: {
    status: string;
    running: boolean;
    exitCode: number;
    oomKilled: boolean;
    pid: number;
    startedAt: string;
    finishedAt: string;
  };
  config: { entrypoint: string[] | null; cmd: string[] | null; stopSignal: string | null; hostname: string; env: string[]; workingDir: string };
  hostConfig: {
    runtime: string;
    privileged: boolean;
    networkMode: string;
    pidMode: string;
    ipcMode: string;
    utsMode: string;
    usernsMode: string;
    init: boolean | null;
    binds: string[];
    devices: DeviceMapping[];
  };
  mounts: { type: string; source: string; destination: string; name: string | null; rw: boolean }[];
}

export interface ExecOptions {
  cmd: string[];
  user?: string;
  env?: string[];
  workingDir?: string;
  stdin?: Buffer | string;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  signal?: AbortSignal;
}

export interface EngineEvent {
  type: string;
  action: string;
  id: string;
  attributes: Record<string, string>;
  /** Nanoseconds since the epoch; feed it back as `since` to resume after a reconnect. */
  timeNano: bigint;
}

export interface EventsOptions {
  /** Resume point (nanoseconds since epoch); events at or after it are replayed by the engine. */
  since?: bigint;
  filters?: Record<string, string[]>;
  signal: AbortSignal;
}

export interface VolumeDetails {
  name: string;
  labels: Record<string, string>;
  mountpoint: string;
  /** `local` for the engine's own volumes. */
  driver: string;
  /** The driver's options (`type`, `o`, `device` for a local volume that is a mount in disguise); empty for none. */
  options: Record<string, string>;
}

/** The engine itself: does it answer, and what is it. */
export interface EngineSystem {
  /** Rejects with EngineUnavailableError when the engine does not answer within timeoutMs (default 2 s). */
  ping(timeoutMs?: number): Promise<void>;
  info(): Promise<EngineInfo>;
}

export interface EngineImages {
  /** undefined when the image is not present locally. */
  inspectImage(ref: string): Promise<ImageDetails | undefined>;
  listImages(): Promise<ImageSummary[]>;
  /** Removes the image and its tags; missing is not an error. */
  removeImage(id: string): Promise<void>;
  /** IDs of the images that some container (in any state, anyone's) is made from. */
  imagesInUse(): Promise<Set<string>>;
  /** Resolves when the pull completed; rejects with PullError when the stream carried an error line. */
  pullImage(ref: string, options?: PullOptions): Promise<void>;
}

export interface EngineContainers {
  createContainer(spec: ContainerCreateSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Sends the container's stop signal, then SIGKILL after timeoutSeconds. Already-stopped is not an error. */
  stopContainer(id: string, timeoutSeconds?: number): Promise<void>;
  /** Sends `signal` (e.g. SIGRTMIN+3) to PID 1. A container that is missing or not running is not an error. */
  signalContainer(id: string, signal: string): Promise<void>;
  /** Missing is not an error. */
  removeContainer(id: string, options?: { force?: boolean }): Promise<void>;
  inspectContainer(id: string): Promise<ContainerDetails | undefined>;
  /** All containers (running or not) carrying every given label (`key` or `key=value`), in one engine call. */
  listContainers(labels: string[]): Promise<ContainerSummary[]>;
}

/** Files in a container, through the archive API (works on containers that never started). */
export interface EngineArchive {
  /** undefined when the path does not exist. Throws EngineError (status 500) e.g. on a symlink loop. */
  statPath(containerId: string, path: string): Promise<PathStat | undefined>;
  /** Contents of one regular file, read from the archive API; undefined when missing or larger than maxBytes. */
  readFile(containerId: string, path: string, maxBytes: number): Promise<Buffer | undefined>;
  /** Puts files into a (normally not yet started) container. Paths are relative to `dir`. */
  putFiles(containerId: string, dir: string, files: { path: string; content: Buffer | string; mode: number; uid?: number; gid?: number }[]): Promise<void>;
}

export interface EngineExec {
  exec(containerId: string, options: ExecOptions): Promise<{ exitCode: number }>;
}

export interface EngineVolumes {
  /** The volume of that name as it is now: one that already existed comes back unchanged, with its own labels. */
  createVolume(name: string, labels: Record<string, string>): Promise<VolumeDetails>;
  inspectVolume(name: string): Promise<VolumeDetails | undefined>;
  /** Missing is not an error. */
  removeVolume(name: string): Promise<void>;
  listVolumes(labels: string[]): Promise<VolumeDetails[]>;
}

export interface EngineEvents {
  events(options: EventsOptions): AsyncIterable<EngineEvent>;
}

/** The whole engine, as src/engine/docker.ts implements it; each consumer asks only for the slices it uses. */
export interface Engine extends EngineSystem, EngineImages, EngineContainers, EngineArchive, EngineExec, EngineVolumes, EngineEvents {}
