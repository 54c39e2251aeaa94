/**
 * The Docker Engine adapter over dockerode (with its helpers archive.ts, exec.ts and inspect-replies.ts). It maps
 * engine replies onto the small types in ./types.ts and every failure onto ./engine-errors.ts, so the rest of the
 * daemon never sees dockerode.
 */
import type { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { readContainerFile, putContainerFiles, statContainerPath } from './archive.js';
import { dockerodeOptions, type EngineTls } from './docker-endpoint.js';
import { EngineUnavailableError, PullError, statusOf, toEngineError } from './engine-errors.js';
import { parseEventLine, sinceParam } from './event-stream.js';
import { execInContainer } from './exec.js';
import { containerDetailsOf, imageDetailsOf, volumeDetailsOf } from './inspect-replies.js';
import { ndjsonLines } from './ndjson.js';
import { followPull } from './pull.js';
import type {
  ContainerCreateSpec,
  ContainerDetails,
  ContainerSummary,
  Engine,
  EngineEvent,
  EngineInfo,
  EventsOptions,
  ExecOptions,
  ImageDetails,
  ImageSummary,
  PathStat,
  PullOptions,
  VolumeDetails,
} from './types.js';

export interface DockerEngineOptions {
  /** `unix:///path`, `tcp://host:port`, or a bare socket path. Default: the node's socket. */
  dockerHost?: string;
  /** With it, tcp:// and http:// go over TLS (the server's certificate checked against `ca`); https:// needs it. */
  tls?: EngineTls;
  /** Budget for ordinary requests (not pulls, exec or the event stream). */
  requestTimeoutMs?: number;
  /** Budget for a container start; see DEFAULT_START_TIMEOUT_MS. */
  startTimeoutMs?: number;
}

const DEFAULT_HOST = 'unix:///var/run/docker.sock';

/**
 * A start is work the engine queues, not a liveness check: the runtime sets up each container (sysbox also ID-shifts
 * its root filesystem), and many starts at once wait for each other (200 busybox starts took 30 s on the test
 * node). Aborting the request does not stop the start, so a short budget failed workspaces whose container then ran.
 */
const DEFAULT_START_TIMEOUT_MS = 5 * 60_000;

/**
 * dockerode accepts `abortSignal` on every call, but @types/dockerode declares it on only some of them; this
 * calls a bound method with it where the declarations lag behind.
 */
function callWithSignal<R>(bound: (...args: never[]) => unknown, abortSignal: AbortSignal): Promise<R> {
  return (bound as (options: { abortSignal: AbortSignal }) => Promise<R>)({ abortSignal });
}

export class DockerEngine implements Engine {
  private readonly docker: Dockerode;
  private readonly timeoutMs: number;
  private readonly startTimeoutMs: number;
  private infoInFlight: Promise<EngineInfo> | null = null;

  constructor(options: DockerEngineOptions = {}) {
    this.docker = new Dockerode(dockerodeOptions(options.dockerHost ?? DEFAULT_HOST, options.tls));
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  private async call<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await fn(AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      throw toEngineError(operation, err);
    }
  }

  /** Like call(), but a 404 yields undefined. */
  private async callOrMissing<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    try {
      return await fn(AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw toEngineError(operation, err);
    }
  }

  async ping(timeoutMs = 2_000): Promise<void> {
    try {
      await callWithSignal(this.docker.ping.bind(this.docker), AbortSignal.timeout(timeoutMs));
    } catch (err) {
      throw toEngineError('ping', err);
    }
  }

  /**
   * Callers at the same time share one request: each workspace create reads the node's facts (the runtimes), and
   * dockerd execs `runc --version` and `docker-init --version` for each /info and /version, so 200 creates at once
   * made 400 calls that took 1.2 s each. A joiner gets an answer no older than the request it joined.
   */
  info(): Promise<EngineInfo> {
    this.infoInFlight ??= this.fetchInfo().finally(() => {
      this.infoInFlight = null;
    });
    return this.infoInFlight;
  }

  private async fetchInfo(): Promise<EngineInfo> {
    const [info, version] = await this.call('info', (abortSignal) =>
      Promise.all([
        callWithSignal<Record<string, unknown>>(this.docker.info.bind(this.docker), abortSignal),
        callWithSignal<Dockerode.DockerVersion>(this.docker.version.bind(this.docker), abortSignal),
      ]),
    );
    const text = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);
    return {
      serverVersion: text(info.ServerVersion, version.Version),
      apiVersion: version.ApiVersion,
      runtimes: Object.keys((info.Runtimes as Record<string, unknown> | undefined) ?? {}),
      kernelVersion: text(info.KernelVersion, ''),
      cgroupVersion: text(info.CgroupVersion, '1'),
      operatingSystem: text(info.OperatingSystem, ''),
      ...(typeof info.DockerRootDir === 'string' ? { dockerRootDir: info.DockerRootDir } : {}),
    };
  }

  async inspectImage(ref: string): Promise<ImageDetails | undefined> {
    const img = await this.callOrMissing('image inspect', (abortSignal) => {
      const image = this.docker.getImage(ref);
      return callWithSignal<Dockerode.ImageInspectInfo>(image.inspect.bind(image), abortSignal);
    });
    return img && imageDetailsOf(img);
  }

  async listImages(): Promise<ImageSummary[]> {
    const images = await this.call('image list', (abortSignal) => this.docker.listImages({ abortSignal }));
    return images.map((i) => ({ id: i.Id, repoTags: i.RepoTags ?? [], repoDigests: i.RepoDigests ?? [], sizeBytes: i.Size }));
  }

  async removeImage(id: string): Promise<void> {
    // force: an image with several tags is otherwise refused; one in use by a container still is.
    await this.callOrMissing('image remove', (abortSignal) => this.docker.getImage(id).remove({ force: true, abortSignal }));
  }

  async imagesInUse(): Promise<Set<string>> {
    const containers = await this.call('container list', (abortSignal) => this.docker.listContainers({ all: true, abortSignal }));
    return new Set(containers.map((c) => c.ImageID));
  }

  async pullImage(ref: string, options: PullOptions = {}): Promise<void> {
    let stream: Readable;
    try {
      stream = (await this.docker.createImage({
        fromImage: ref,
        ...(options.auth ? { authconfig: options.auth } : {}),
        ...(options.signal ? { abortSignal: options.signal } : {}),
      })) as unknown as Readable;
    } catch (err) {
      // Cancelled before the stream began: the same PullError as a cancel mid-stream (followPull), not an unreachable engine.
      if (options.signal?.aborted) throw new PullError(ref, null, 'pull cancelled');
      const engineError = toEngineError('pull', err);
      // The engine refused the pull before streaming (registry unreachable, auth): a pull failure, not an engine one.
      if (engineError instanceof EngineUnavailableError) throw engineError;
      throw new PullError(ref, engineError.statusCode, engineError.message.replace(/^pull: /, ''));
    }
    await followPull(ref, stream, options);
  }

  async createContainer(spec: ContainerCreateSpec): Promise<string> {
    // A copy: dockerode deletes abortSignal from the options it is given.
    const container = await this.call('container create', (abortSignal) => this.docker.createContainer({ ...spec, abortSignal } as Dockerode.ContainerCreateOptions));
    return container.id;
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start({ abortSignal: AbortSignal.timeout(this.startTimeoutMs) });
    } catch (err) {
      // 304: already started.
      if (statusOf(err) !== 304) throw toEngineError('container start', err);
    }
  }

  async stopContainer(id: string, timeoutSeconds?: number): Promise<void> {
    const budgetMs = ((timeoutSeconds ?? 10) + 30) * 1000;
    try {
      await this.docker
        .getContainer(id)
        .stop({ ...(timeoutSeconds !== undefined ? { t: timeoutSeconds } : {}), abortSignal: AbortSignal.timeout(budgetMs) });
    } catch (err) {
      const status = statusOf(err);
      if (status !== 304 && status !== 404) throw toEngineError('container stop', err);
    }
  }

  async signalContainer(id: string, signal: string): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal, abortSignal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      // 404: gone; 409: not running.
      const status = statusOf(err);
      if (status !== 404 && status !== 409) throw toEngineError('container signal', err);
    }
  }

  async removeContainer(id: string, options: { force?: boolean } = {}): Promise<void> {
    await this.callOrMissing('container remove', (abortSignal) =>
      this.docker.getContainer(id).remove({ force: options.force ?? false, v: false, abortSignal }),
    );
  }

  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    const c = await this.callOrMissing('container inspect', (abortSignal) => this.docker.getContainer(id).inspect({ abortSignal }));
    return c && containerDetailsOf(c);
  }

  async listContainers(labels: string[]): Promise<ContainerSummary[]> {
    const list = await this.call('container list', (abortSignal) =>
      this.docker.listContainers({ all: true, filters: { label: labels }, abortSignal }),
    );
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      image: c.Image,
      labels: c.Labels,
      state: c.State,
    }));
  }

  async statPath(containerId: string, path: string): Promise<PathStat | undefined> {
    return statContainerPath(this.docker.getContainer(containerId), path);
  }

  async readFile(containerId: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
    return readContainerFile(this.docker.getContainer(containerId), path, maxBytes);
  }

  async putFiles(
    containerId: string,
    dir: string,
    files: { path: string; content: Buffer | string; mode: number; uid?: number; gid?: number }[],
  ): Promise<void> {
    await putContainerFiles(this.docker.getContainer(containerId), dir, files);
  }

  exec(containerId: string, options: ExecOptions): Promise<{ exitCode: number }> {
    return execInContainer(this.docker, containerId, options);
  }

  /** dockerode's createVolume drops the engine's answer, so the request is sent here; see EngineVolumes.createVolume. */
  async createVolume(name: string, labels: Record<string, string>): Promise<VolumeDetails> {
    const answer = await this.call(
      'volume create',
      (abortSignal) =>
        new Promise<Dockerode.VolumeInspectInfo>((resolve, reject) => {
          this.docker.modem.dial(
            { path: '/volumes/create?', method: 'POST', options: { Name: name, Labels: labels }, abortSignal, statusCodes: { 200: true, 201: true, 500: 'server error' } },
            (err: Error | null, data: unknown) => {
              // docker-modem fails with an Error carrying the engine's status code (engine-errors.ts reads it).
              if (err) reject(err);
              else resolve(data as Dockerode.VolumeInspectInfo);
            },
          );
        }),
    );
    return volumeDetailsOf(answer);
  }

  async inspectVolume(name: string): Promise<VolumeDetails | undefined> {
    const v = await this.callOrMissing('volume inspect', (abortSignal) => this.docker.getVolume(name).inspect({ abortSignal }));
    return v ? volumeDetailsOf(v) : undefined;
  }

  async removeVolume(name: string): Promise<void> {
    await this.callOrMissing('volume remove', (abortSignal) => this.docker.getVolume(name).remove({ abortSignal }));
  }

  async listVolumes(labels: string[]): Promise<VolumeDetails[]> {
    const res = await this.call('volume list', (abortSignal) => this.docker.listVolumes({ filters: { label: labels }, abortSignal }));
    // The engine answers `"Volumes": null` when there are none, whatever the typings say.
    return ((res.Volumes as typeof res.Volumes | null) ?? []).map(volumeDetailsOf);
  }

  async *events(options: EventsOptions): AsyncIterable<EngineEvent> {
    let stream: Readable;
    try {
      const query = {
        ...(options.since !== undefined ? { since: sinceParam(options.since) } : {}),
        ...(options.filters ? { filters: options.filters } : {}),
        abortSignal: options.signal,
      };
      // `since` as "seconds.nanoseconds" (the API's format); @types/dockerode only knows whole seconds.
      const getEvents = this.docker.getEvents.bind(this.docker) as unknown as (q: typeof query) => Promise<Readable>;
      stream = await getEvents(query);
    } catch (err) {
      throw toEngineError('events', err);
    }
    try {
      for await (const line of ndjsonLines(stream)) yield parseEventLine(line);
    } catch (err) {
      if (options.signal.aborted) return;
      throw toEngineError('events', err);
    }
  }
}
