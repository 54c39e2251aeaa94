/**
 * A WorkspaceManager over the fake engine (test/support/fake-engine.ts) for unit tests of the lifecycle: the real
 * manager, operations, watcher, store (in a temp dir) and puller; image facts and node facts are fixed fixtures the
 * test may change. Nothing here needs root or dockerd.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { NodeFacts } from '../../../src/container/node-facts.js';
import type { GpuDeviceNode } from '../../../src/gpu/discover.js';
import type { DriverFile } from '../../../src/gpu/driver-files.js';
import type { GpuNode } from '../../../src/gpu/plan.js';
import type { ImageFacts } from '../../../src/image/facts.js';
import { ImagePuller } from '../../../src/image/image-puller.js';
import type { LifecycleMetrics } from '../../../src/lifecycle/lifecycle-metrics.js';
import { type ManagerOptions, WorkspaceManager } from '../../../src/lifecycle/manager.js';
import type { Phase } from '../../../src/lifecycle/phase.js';
import { StateStore, type WorkspaceRecord } from '../../../src/lifecycle/store.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';
import { FakeEngine } from '../../support/fake-engine.js';

export const IMAGE = 'registry.test/team/dev:1';

export function imageFacts(imageId: string, init: ImageFacts['init']['mode'] = 'init'): ImageFacts {
  return {
    imageId,
    init: init === 'keepalive' ? { mode: init, path: '/sbin/init', target: null, reason: 'missing' } : { mode: init, path: '/sbin/init', target: init === 'systemd' ? '/lib/systemd/systemd' : '/bin/busybox', reason: null },
    osRelease: { id: 'debian', idLike: [], versionId: '12' },
    users: [
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
      { name: 'coder', uid: 1000, gid: 1000, home: '/home/coder', shell: '/bin/sh' },
    ],
    sleepPath: '/bin/sleep',
  };
}

export function nodeFacts(): NodeFacts {
  return {
    cvmRuntime: 'sysbox-runc',
    runtimes: ['runc', 'sysbox-runc'],
    cvmEnabled: true,
    network: 'bridge',
    hostRoot: '/',
    engineHostRoot: '/',
    devices: { fuse: null, tun: null },
    allowedMountRoots: [],
    protectedHostPaths: [],
  };
}

/** A node with one GPU and driver `version`'s libcuda and libnvidia-ml (enough for `compute,utility`). */
export function gpuNode(version: string): GpuNode {
  const lib = (base: string): DriverFile => ({ base, hostPath: `/usr/lib/x86_64-linux-gnu/${base}.so.${version}`, names: [`${base}.so.${version}`, `${base}.so.1`] });
  const device = (hostPath: string, minor: number): GpuDeviceNode => ({ hostPath, major: 195, minor, mode: 0o666, access: 'rw' });
  return {
    enabled: true,
    facts: {
      unsupported: null,
      driverVersion: version,
      arch: 'x86_64',
      gpus: [{ index: 0, uuid: 'GPU-0000', model: 'Tesla T4', busId: '00000000:00:1e.0', minor: 0, device: device('/dev/nvidia0', 0), migDevices: [] }],
      controlDevices: [device('/dev/nvidiactl', 255)],
      libraries: [lib('libcuda'), lib('libnvidia-ml')],
      binaries: [],
      libraryDirs: ['/usr/lib/x86_64-linux-gnu'],
    },
  };
}

/** Lifecycle metrics as plain counters. */
export class RecordedMetrics implements LifecycleMetrics {
  readonly steps: string[] = [];
  readonly restarts: string[] = [];
  readonly stateFileErrors: string[] = [];
  /** `mode seconds` of each boot observed. */
  readonly boots: string[] = [];
  pulledBytes = 0;

  stepTook(step: string): void {
    this.steps.push(step);
  }

  pulled(bytes: number): void {
    this.pulledBytes += bytes;
  }

  restarted(reason: string): void {
    this.restarts.push(reason);
  }

  stateFileError(file: string, error: string): void {
    this.stateFileErrors.push(`${file}: ${error}`);
  }

  booted(mode: string, seconds: number): void {
    this.boots.push(`${mode} ${seconds}`);
  }
}

/** A log line as pino writes it. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class Lifecycle {
  readonly metrics = new RecordedMetrics();
  readonly logs: LogLine[] = [];
  /** What nodeFacts() answers; tests change it (runtimes, GPUs). */
  node = nodeFacts();
  /** The init mode image facts report. */
  init: ImageFacts['init']['mode'] = 'init';
  readonly managers: WorkspaceManager[] = [];
  manager: WorkspaceManager;

  private constructor(
    readonly stateDir: string,
    private readonly overrides: Partial<ManagerOptions>,
    readonly engine: FakeEngine,
  ) {
    this.engine.addImage(IMAGE);
    this.engine.registry.add(IMAGE);
    this.manager = this.newManager();
  }

  /**
   * A manager over a fresh fake engine (or `engine`, shared with another daemon's Lifecycle) with an image `IMAGE`
   * present; not initialised.
   */
  static async create(overrides: Partial<ManagerOptions> = {}, engine = new FakeEngine()): Promise<Lifecycle> {
    return new Lifecycle(await mkdtemp(path.join(tmpdir(), 'cvm-unit-lifecycle-')), overrides, engine);
  }

  /** Another manager on the same state dir and engine, as after a daemon restart. Not initialised. */
  newManager(overrides: Partial<ManagerOptions> = {}): WorkspaceManager {
    const logger = pino({ level: 'debug' }, { write: (line: string) => this.logs.push(JSON.parse(line) as LogLine) });
    const manager = new WorkspaceManager({
      engine: this.engine,
      store: new StateStore(this.stateDir),
      logger,
      metrics: this.metrics,
      inspectionOwner: 'unit-test',
      precheck: () => Promise.resolve(),
      imageFacts: (image) => Promise.resolve(imageFacts(image.id, this.init)),
      nodeFacts: () => Promise.resolve(structuredClone(this.node)),
      resolveMountSources: (sources) => Promise.resolve(new Map(sources.map((s) => [s, s]))),
      puller: new ImagePuller(this.engine, { attempts: 1, baseMs: 1, maxMs: 1 }),
      nodeCredentials: () => Promise.resolve(undefined),
      bootTimeoutMs: 300_000,
      ...this.overrides,
      ...overrides,
    });
    this.managers.push(manager);
    return manager;
  }

  /** PUT, then wait until the operation settled. */
  async put(id: string, spec: Partial<WorkspaceSpec> = {}): Promise<void> {
    await this.manager.put(id, { image: IMAGE, ...spec });
    await this.manager.idle();
  }

  /** Resolves when the workspace is in `phase`, seen from its build log (no polling, no timers). */
  until(id: string, phase: Phase, manager = this.manager): Promise<void> {
    return this.untilLog(id, () => manager.workspace(id)?.phase === phase, manager);
  }

  /** Resolves once the build log holds `line` (`kind: message`). */
  untilLogged(id: string, line: string, manager = this.manager): Promise<void> {
    return this.untilLog(id, () => this.log(id, manager).includes(line), manager);
  }

  private untilLog(id: string, done: () => boolean, manager: WorkspaceManager): Promise<void> {
    const ws = manager.workspace(id);
    if (!ws) return Promise.reject(new Error(`no workspace ${id}`));
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        unsubscribe();
        resolve();
      };
      const unsubscribe = ws.log.subscribe(check);
      check();
    });
  }

  log(id: string, manager = this.manager): string[] {
    return (manager.workspace(id)?.log.snapshot() ?? []).map((e) => `${e.kind}: ${e.message}`);
  }

  /** The workspace's record as the store wrote it to disk. */
  async record(id: string): Promise<WorkspaceRecord> {
    return JSON.parse(await readFile(path.join(this.stateDir, 'workspaces', `${id}.json`), 'utf8')) as WorkspaceRecord;
  }

  async cleanup(): Promise<void> {
    for (const manager of this.managers) await manager.shutdown('keep');
    await rm(this.stateDir, { recursive: true, force: true });
  }
}
