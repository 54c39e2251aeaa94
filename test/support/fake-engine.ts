/**
 * An in-memory Engine for unit tests of the lifecycle: images, containers, volumes, container files and the event
 * stream as plain maps, so a test runs in milliseconds without root or dockerd. It models what the lifecycle relies
 * on and what the real engine was seen to do (409 on a name taken or a volume in use, `die` events, no copy into a
 * running sysbox container), no more; the integration tests hold the real engine's word.
 *
 * Scriptable per operation: `fail` (the next calls reject), `hold` (the next call waits until the test releases
 * it), `delay` (the next call takes time, on whatever clock the test runs), `after` (runs once the call took
 * effect). `die` ends a container's PID 1, `breakEvents` cuts the event stream, `down` makes the engine unreachable.
 */
import { createHash } from 'node:crypto';
import { EngineError, EngineUnavailableError, PullError } from '../../src/engine/engine-errors.js';
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
} from '../../src/engine/types.js';

export type Operation = keyof Engine;

/** A call held by `hold`: `reached` resolves when it arrives; `release` lets it go on, `fail` makes it reject. */
export interface Gate {
  reached: Promise<void>;
  release: () => void;
  fail: (error: Error) => void;
}

type Step = { fail: Error } | { hold: { arrive: () => void; passed: Promise<void> } } | { delayMs: number } | { after: (...args: never[]) => void };

export interface FakeFile {
  content: string;
  mode: number;
  uid: number;
  gid: number;
}

interface FakeImage {
  id: string;
  tags: string[];
  files: Record<string, string>;
}

interface FakeContainer {
  id: string;
  spec: ContainerCreateSpec;
  state: ContainerDetails['state'];
  files: Map<string, FakeFile>;
}

interface Subscriber {
  matches: (event: EngineEvent) => boolean;
  push: (event: EngineEvent) => void;
  fail: (error: Error) => void;
}

const NEVER = '0001-01-01T00:00:00Z';

export class FakeEngine implements Engine {
  readonly calls: { op: Operation; args: unknown[] }[] = [];
  readonly images = new Map<string, FakeImage>();
  readonly containers = new Map<string, FakeContainer>();
  readonly volumes = new Map<string, Record<string, string>>();
  /** References a pull can fetch; anything else is `manifest unknown`. */
  readonly registry = new Set<string>();
  runtimes = ['runc', 'sysbox-runc'];
  /** What an exec returns; by default exit 0 at once. */
  onExec: (containerId: string, options: ExecOptions) => Promise<{ exitCode: number }> = () => Promise.resolve({ exitCode: 0 });
  /** Whether a bind mount's source exists on the host; the engine mounts it at every start. By default, always. */
  bindSourceExists: (source: string) => boolean = () => true;
  private readonly steps = new Map<Operation, Step[]>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly history: EngineEvent[] = [];
  private unreachable = false;
  private nextId = 1;
  private eventSeq = 0n;

  // --- scripting --------------------------------------------------------------------------------------------

  /** The next `times` calls of `op` reject with `error`. */
  fail(op: Operation, error: Error, times = 1): void {
    for (let i = 0; i < times; i++) this.queue(op, { fail: error });
  }

  /** The next call of `op` waits until the gate is released (or failed). */
  hold(op: Operation): Gate {
    let arrive!: () => void;
    let release!: () => void;
    let fail!: (error: Error) => void;
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    const passed = new Promise<void>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
    this.queue(op, { hold: { arrive, passed } });
    return {
      reached,
      release: () => {
        release();
      },
      fail: (error) => {
        fail(error);
      },
    };
  }

  /** The next call of `op` takes `ms` (a timer: fake timers control it). */
  delay(op: Operation, ms: number): void {
    this.queue(op, { delayMs: ms });
  }

  /** Runs `fn` with the arguments of the next call of `op`, once that call took effect. */
  after<O extends Operation>(op: O, fn: (...args: Parameters<Engine[O]>) => void): void {
    this.queue(op, { after: fn as (...args: never[]) => void });
  }

  /** Every call rejects as from an engine that does not answer; open event streams break. */
  set down(value: boolean) {
    this.unreachable = value;
    if (value) this.breakEvents();
  }

  get down(): boolean {
    return this.unreachable;
  }

  breakEvents(error: Error = new EngineUnavailableError('events', 'connection reset')): void {
    // A broken stream carries nothing more, not even what is already on its way.
    for (const subscriber of this.subscribers) subscriber.fail(error);
    this.subscribers.clear();
  }

  /** As an engine restart does: `since` replays nothing from before. */
  forgetEvents(): void {
    this.history.length = 0;
  }

  callsOf(op: Operation): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  // --- state helpers for tests ---------------------------------------------------------------------------------

  /** A local image; `files` are in every container made from it. Returns its ID. */
  addImage(ref: string, files: Record<string, string> = {}): string {
    const id = `sha256:${createHash('sha256').update(ref).digest('hex')}`;
    this.images.set(id, { id, tags: [ref], files });
    return id;
  }

  /** PID 1 of a running container exits on its own. */
  die(idOrName: string, exitCode = 1, oomKilled = false): void {
    const container = this.find(idOrName);
    if (!container?.state.running) throw new Error(`fake engine: ${idOrName} is not running`);
    this.exit(container, exitCode, oomKilled);
  }

  container(idOrName: string): FakeContainer | undefined {
    return this.find(idOrName);
  }

  file(idOrName: string, path: string): FakeFile | undefined {
    return this.find(idOrName)?.files.get(path);
  }

  // --- Engine ------------------------------------------------------------------------------------------------

  ping(timeoutMs?: number): Promise<void> {
    return this.run('ping', [timeoutMs], () => undefined);
  }

  info(): Promise<EngineInfo> {
    return this.run('info', [], () => ({ serverVersion: 'fake', apiVersion: '1.41', runtimes: [...this.runtimes], kernelVersion: '6.1', cgroupVersion: '2', operatingSystem: 'fake' }));
  }

  inspectImage(ref: string): Promise<ImageDetails | undefined> {
    return this.run('inspectImage', [ref], () => {
      const image = this.image(ref);
      return image && { id: image.id, repoDigests: [], sizeBytes: 1000, config: { entrypoint: null, cmd: ['sh'], env: [], stopSignal: null } };
    });
  }

  listImages(): Promise<ImageSummary[]> {
    return this.run('listImages', [], () => [...this.images.values()].map((i) => ({ id: i.id, repoTags: i.tags, repoDigests: [], sizeBytes: 1000 })));
  }

  removeImage(id: string): Promise<void> {
    return this.run('removeImage', [id], () => void this.images.delete(id));
  }

  imagesInUse(): Promise<Set<string>> {
    return this.run('imagesInUse', [], () => new Set([...this.containers.values()].map((c) => c.spec.Image)));
  }

  pullImage(ref: string, options: PullOptions = {}): Promise<void> {
    return this.run('pullImage', [ref, options], () => {
      if (options.signal?.aborted) throw new PullError(ref, null, 'pull cancelled');
      if (!this.registry.has(ref)) throw new PullError(ref, 404, `manifest for ${ref} not found: manifest unknown`);
      options.onProgress?.({ layer: 'layer1', status: 'Downloading', current: 500, total: 1000 });
      options.onProgress?.({ layer: 'layer1', status: 'Pull complete', current: 1000, total: 1000 });
      if (!this.image(ref)) this.addImage(ref);
    });
  }

  createContainer(spec: ContainerCreateSpec): Promise<string> {
    return this.run('createContainer', [spec], () => {
      const image = this.image(spec.Image);
      if (!image) throw new EngineError('container create', 404, `No such image: ${spec.Image}`);
      if (this.find(spec.name)) throw new EngineError('container create', 409, `Conflict. The container name "/${spec.name}" is already in use`);
      for (const mount of spec.HostConfig.Mounts ?? []) {
        if (mount.Type === 'volume' && mount.Source && !this.volumes.has(mount.Source)) this.volumes.set(mount.Source, mount.VolumeOptions?.Labels ?? {});
      }
      const id = (this.nextId++).toString(16).padStart(64, '0');
      const files = new Map(Object.entries(image.files).map(([path, content]) => [path, { content, mode: 0o644, uid: 0, gid: 0 }]));
      const state = { status: 'created', running: false, exitCode: 0, oomKilled: false, pid: 0, startedAt: NEVER, finishedAt: NEVER };
      this.containers.set(id, { id, spec: structuredClone(spec), state, files });
      this.emit('create', id, spec.Labels);
      return id;
    });
  }

  startContainer(id: string): Promise<void> {
    return this.run('startContainer', [id], () => {
      const container = this.require('container start', id);
      if (container.state.running) return;
      const missing = (container.spec.HostConfig.Mounts ?? []).find((m) => m.Type === 'bind' && !this.bindSourceExists(m.Source ?? ''));
      if (missing) throw new EngineError('container start', 400, `invalid mount config for type "bind": bind source path does not exist: ${missing.Source ?? ''}`);
      Object.assign(container.state, { status: 'running', running: true, pid: 4242, exitCode: 0, oomKilled: false, startedAt: new Date().toISOString() });
      this.emit('start', container.id, container.spec.Labels);
    });
  }

  stopContainer(id: string, timeoutSeconds?: number): Promise<void> {
    return this.run('stopContainer', [id, timeoutSeconds], () => {
      const container = this.find(id);
      if (container?.state.running) this.exit(container, 0, false);
    });
  }

  signalContainer(id: string, signal: string): Promise<void> {
    return this.run('signalContainer', [id, signal], () => undefined);
  }

  removeContainer(id: string, options: { force?: boolean } = {}): Promise<void> {
    return this.run('removeContainer', [id, options], () => {
      const container = this.find(id);
      if (!container) return;
      if (container.state.running && options.force !== true) throw new EngineError('container remove', 409, 'You cannot remove a running container');
      if (container.state.running) this.exit(container, 137, false);
      this.containers.delete(container.id);
      this.emit('destroy', container.id, container.spec.Labels);
    });
  }

  inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    return this.run('inspectContainer', [id], () => {
      const container = this.find(id);
      return container && detailsOf(container);
    });
  }

  listContainers(labels: string[]): Promise<ContainerSummary[]> {
    return this.run('listContainers', [labels], () =>
      [...this.containers.values()]
        .filter((c) => hasLabels(c.spec.Labels, labels))
        .map((c) => ({ id: c.id, name: c.spec.name, image: c.spec.Image, labels: { ...c.spec.Labels }, state: c.state.status })),
    );
  }

  statPath(containerId: string, path: string): Promise<PathStat | undefined> {
    return this.run('statPath', [containerId, path], () => {
      const file = this.require(`stat ${path}`, containerId).files.get(path);
      return file && { name: path.slice(path.lastIndexOf('/') + 1), size: file.content.length, mode: file.mode, linkTarget: '' };
    });
  }

  readFile(containerId: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
    return this.run('readFile', [containerId, path, maxBytes], () => {
      const file = this.require(`read ${path}`, containerId).files.get(path);
      return file && file.content.length <= maxBytes ? Buffer.from(file.content) : undefined;
    });
  }

  putFiles(containerId: string, dir: string, files: { path: string; content: Buffer | string; mode: number; uid?: number; gid?: number }[]): Promise<void> {
    return this.run('putFiles', [containerId, dir, files], () => {
      const container = this.require('put files', containerId);
      // Seen on the real engine: copying into a running sysbox container fails.
      if (container.state.running && container.spec.HostConfig.Runtime === 'sysbox-runc') throw new EngineError('put files', 500, 'cannot copy into a running sysbox container');
      for (const f of files) {
        container.files.set(`${dir.replace(/\/$/, '')}/${f.path}`, { content: f.content.toString(), mode: f.mode, uid: f.uid ?? 0, gid: f.gid ?? 0 });
      }
    });
  }

  exec(containerId: string, options: ExecOptions): Promise<{ exitCode: number }> {
    return this.run('exec', [containerId, options], () => {
      if (!this.require('exec', containerId).state.running) throw new EngineError('exec', 409, `Container ${containerId} is not running`);
      return this.onExec(containerId, options);
    });
  }

  /** As dockerd: a name that exists comes back unchanged. */
  createVolume(name: string, labels: Record<string, string>): Promise<VolumeDetails> {
    return this.run('createVolume', [name, labels], () => {
      if (!this.volumes.has(name)) this.volumes.set(name, { ...labels });
      return this.volumeDetails(name, this.volumes.get(name) ?? {});
    });
  }

  inspectVolume(name: string): Promise<VolumeDetails | undefined> {
    return this.run('inspectVolume', [name], () => {
      const labels = this.volumes.get(name);
      return labels && this.volumeDetails(name, labels);
    });
  }

  private volumeDetails(name: string, labels: Record<string, string>): VolumeDetails {
    return { name, labels: { ...labels }, mountpoint: `/var/lib/docker/volumes/${name}/_data`, driver: 'local', options: {} };
  }

  removeVolume(name: string): Promise<void> {
    return this.run('removeVolume', [name], () => {
      const user = [...this.containers.values()].find((c) => c.spec.HostConfig.Mounts?.some((m) => m.Type === 'volume' && m.Source === name));
      if (user) throw new EngineError('volume remove', 409, `remove ${name}: volume is in use - [${user.id}]`);
      this.volumes.delete(name);
    });
  }

  listVolumes(labels: string[]): Promise<VolumeDetails[]> {
    return this.run('listVolumes', [labels], () =>
      [...this.volumes.entries()].filter(([, l]) => hasLabels(l, labels)).map(([name, l]) => ({ name, labels: { ...l }, mountpoint: '', driver: 'local', options: {} })),
    );
  }

  async *events(options: EventsOptions): AsyncIterable<EngineEvent> {
    await this.run('events', [options], () => undefined);
    const matches = (event: EngineEvent): boolean => (options.since === undefined || event.timeNano >= options.since) && matchesFilters(event, options.filters ?? {});
    // Replays what happened since `since`, as the engine does, then follows.
    const stream: { queue: EngineEvent[]; broken: Error | null; wake: () => void } = { queue: this.history.filter(matches), broken: null, wake: () => undefined };
    const subscriber: Subscriber = {
      matches,
      push: (event) => {
        stream.queue.push(event);
        stream.wake();
      },
      fail: (error) => {
        stream.queue.length = 0;
        stream.broken = error;
        stream.wake();
      },
    };
    const onAbort = (): void => {
      stream.wake();
    };
    options.signal.addEventListener('abort', onAbort);
    this.subscribers.add(subscriber);
    try {
      for (;;) {
        const next = stream.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (options.signal.aborted) return;
        if (stream.broken) throw stream.broken;
        await new Promise<void>((resolve) => (stream.wake = resolve));
      }
    } finally {
      this.subscribers.delete(subscriber);
      options.signal.removeEventListener('abort', onAbort);
    }
  }

  // --- internals ---------------------------------------------------------------------------------------------

  private queue(op: Operation, step: Step): void {
    this.steps.set(op, [...(this.steps.get(op) ?? []), step]);
  }

  /** Records the call, plays its scripted step, then does what the call does (`effect`). */
  private async run<T>(op: Operation, args: unknown[], effect: () => T | Promise<T>): Promise<T> {
    this.calls.push({ op, args });
    const step = this.steps.get(op)?.shift();
    if (step && 'hold' in step) {
      step.hold.arrive();
      await step.hold.passed;
    }
    if (step && 'delayMs' in step) await new Promise((resolve) => setTimeout(resolve, step.delayMs));
    if (this.unreachable) throw new EngineUnavailableError(op, 'ECONNREFUSED: the fake engine is down');
    if (step && 'fail' in step) throw step.fail;
    const result = await effect();
    if (step && 'after' in step) (step.after as (...a: unknown[]) => void)(...args);
    return result;
  }

  private image(ref: string): FakeImage | undefined {
    return this.images.get(ref) ?? [...this.images.values()].find((i) => i.tags.includes(ref));
  }

  private find(idOrName: string): FakeContainer | undefined {
    return this.containers.get(idOrName) ?? [...this.containers.values()].find((c) => c.spec.name === idOrName);
  }

  private require(operation: string, idOrName: string): FakeContainer {
    const container = this.find(idOrName);
    if (!container) throw new EngineError(operation, 404, `No such container: ${idOrName}`);
    return container;
  }

  private exit(container: FakeContainer, exitCode: number, oomKilled: boolean): void {
    Object.assign(container.state, { status: 'exited', running: false, pid: 0, exitCode, oomKilled, finishedAt: new Date().toISOString() });
    this.emit('die', container.id, { ...container.spec.Labels, exitCode: String(exitCode) });
  }

  private emit(action: string, id: string, attributes: Record<string, string>): void {
    const event: EngineEvent = { type: 'container', action, id, attributes: { ...attributes }, timeNano: BigInt(Date.now()) * 1_000_000n + this.eventSeq++ };
    this.history.push(event);
    for (const subscriber of this.subscribers) if (subscriber.matches(event)) subscriber.push(event);
  }
}

function detailsOf(c: FakeContainer): ContainerDetails {
  const { spec } = c;
  return {
    id: c.id,
    name: spec.name,
    image: spec.Image,
    labels: { ...spec.Labels },
    state: { ...c.state },
    config: { entrypoint: spec.Entrypoint ?? null, cmd: spec.Cmd ?? null, stopSignal: spec.StopSignal ?? null, hostname: spec.Hostname ?? '', env: spec.Env ?? [], workingDir: spec.WorkingDir ?? '' },
    hostConfig: {
      runtime: spec.HostConfig.Runtime ?? 'runc',
      privileged: false,
      networkMode: spec.HostConfig.NetworkMode ?? 'default',
      pidMode: '',
      ipcMode: 'private',
      utsMode: '',
      usernsMode: '',
      init: spec.HostConfig.Init ?? null,
      binds: [],
      devices: spec.HostConfig.Devices ?? [],
    },
    mounts: (spec.HostConfig.Mounts ?? []).map((m) => ({ type: m.Type, source: m.Source ?? '', destination: m.Target, name: m.Type === 'volume' ? (m.Source ?? null) : null, rw: m.ReadOnly !== true })),
  };
}

/** `key` or `key=value`, all of them. */
function hasLabels(labels: Record<string, string>, wanted: readonly string[]): boolean {
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    return eq < 0 ? w in labels : labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

function matchesFilters(event: EngineEvent, filters: Record<string, string[]>): boolean {
  return Object.entries(filters).every(([key, values]) => {
    if (key === 'type') return values.includes(event.type);
    if (key === 'event') return values.includes(event.action);
    if (key === 'label') return hasLabels(event.attributes, values);
    return true;
  });
}
