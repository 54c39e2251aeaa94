/**
 * A WorkspaceManager with its real collaborators (createManager) against the test engine, for in-process
 * lifecycle tests: a temp state dir, config from the real loader, waiting for a phase, and cleanup.
 *
 * Test files run in parallel against one engine, and a daemon without --instance treats every unlabelled workspace
 * container as possibly its own (it adopts one whose id it has a record for) and removes its inspection leftovers.
 * So each harness gives its manager a scoped view of the engine: listing returns only containers of workspaces whose
 * id starts with the harness's prefix, and inspection containers this harness made. Everything else is the real
 * engine, unchanged.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { createManager } from '../../src/daemon/wiring.js';
import { DockerEngine } from '../../src/engine/docker.js';
import { cachingInfo } from '../../src/engine/info-cache.js';
import type { ContainerCreateSpec, ContainerSummary } from '../../src/engine/types.js';
import { INSPECTION_LABEL } from '../../src/image/inspection-container.js';
import type { LifecycleMetrics } from '../../src/lifecycle/lifecycle-metrics.js';
import type { WorkspaceManager } from '../../src/lifecycle/manager.js';
import type { Phase } from '../../src/lifecycle/phase.js';
import type { WorkspaceStatus } from '../../src/lifecycle/workspace.js';
import { createLogger } from '../../src/log.js';
import { engineRequest, removeContainersLabelled, removeLabelled, testDockerHost } from './engine.js';

/** The real engine adapter, seeing only this harness's workspaces and inspection containers when it lists. */
export class ScopedEngine extends DockerEngine {
  private readonly createdIds = new Set<string>();

  constructor(
    dockerHost: string,
    private readonly idPrefix: string,
  ) {
    super({ dockerHost });
  }

  override async createContainer(spec: ContainerCreateSpec): Promise<string> {
    const id = await super.createContainer(spec);
    this.createdIds.add(id);
    return id;
  }

  override async listContainers(labels: string[]): Promise<ContainerSummary[]> {
    return (await super.listContainers(labels)).filter((c) => {
      const workspace = c.labels[WORKSPACE_LABEL];
      if (workspace !== undefined) return workspace.startsWith(`${this.idPrefix}-`);
      return c.labels[INSPECTION_LABEL] !== undefined && this.createdIds.has(c.id);
    });
  }
}

export interface HarnessOptions {
  /** Extra daemon flags, e.g. ['--cvm-enabled', 'false']. --state-dir and --docker-host are set by the harness. */
  flags?: readonly string[];
  /** pino level; 'debug' while debugging a test. */
  logLevel?: pino.Level | 'silent';
  /** Where the managers' log lines go (tests that grep them); default stdout. */
  logStream?: NodeJS.WritableStream;
  /** The environment the config is loaded from (envbox variables); default none. */
  env?: NodeJS.ProcessEnv;
  /** What the managers report lifecycle metrics to (drills count restarts); default none. */
  metrics?: LifecycleMetrics;
  /** Another harness whose workspace ids this one shares (two daemons on one engine, see instances.test.ts). */
  idsOf?: ManagerHarness;
  /** Reuse the engine's /info answer this long, as `serve` does (benchmarks); default: ask at every call. */
  engineInfoMaxAgeMs?: number;
}

export class ManagerHarness {
  readonly engine: ScopedEngine;
  readonly config: Config;
  manager: WorkspaceManager;
  private readonly usedIds = new Set<string>();
  private readonly managers: WorkspaceManager[] = [];

  private constructor(
    readonly prefix: string,
    readonly stateDir: string,
    private readonly options: HarnessOptions,
  ) {
    this.config = loadConfig(['--state-dir', stateDir, '--docker-host', testDockerHost(), ...(options.flags ?? [])], options.env ?? {});
    this.engine = new ScopedEngine(this.config.dockerHost, prefix);
    this.manager = this.newManager();
  }

  /**
   * `name` must be unique per test file (e.g. the file's name), so files running in parallel never share a
   * workspace; a random part is added because several people may run the same file at once on this engine.
   * The manager is initialised.
   */
  static async create(name: string, options: HarnessOptions = {}): Promise<ManagerHarness> {
    const prefix = options.idsOf?.prefix ?? `${name}-${randomBytes(3).toString('hex')}`;
    const stateDir = await mkdtemp(path.join(tmpdir(), `cvm-${prefix}-`));
    const harness = new ManagerHarness(prefix, stateDir, options);
    await harness.manager.init();
    return harness;
  }

  /** A workspace id under this harness's prefix (`<name>-<random>-`); remembered for cleanup. */
  id(name: string): string {
    const id = `${this.prefix}-${name}`;
    this.usedIds.add(id);
    return id;
  }

  /** A second manager on the same state dir and engine view, as after a daemon restart. Not initialised. */
  newManager(): WorkspaceManager {
    const level = this.options.logLevel ?? 'silent';
    // With a stream: the daemon's own logger (its redaction included), as `serve` makes it.
    const logger = this.options.logStream ? createLogger(level, this.options.logStream) : pino({ level });
    const { engineInfoMaxAgeMs } = this.options;
    const engine = engineInfoMaxAgeMs === undefined ? this.engine : cachingInfo(this.engine, engineInfoMaxAgeMs);
    const manager = createManager(this.config, engine, logger, this.options.metrics);
    this.managers.push(manager);
    return manager;
  }

  /** Polls the manager until the workspace reaches `phase`; the error shows the last status and log lines. */
  async waitFor(id: string, phase: Phase, timeoutMs = 30_000, manager = this.manager): Promise<WorkspaceStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = manager.get(id);
      if (status.phase === phase) return status;
      if (Date.now() > deadline) {
        const log = (manager.workspace(id)?.log.snapshot() ?? []).slice(-15).map((e) => `  ${e.kind}: ${e.message}`);
        throw new Error(
          `workspace ${id} did not reach ${phase} within ${timeoutMs} ms; it is ${status.phase}` +
            `${status.reason ? ` (${status.reason}: ${status.message ?? ''})` : ''}\n${log.join('\n')}`,
        );
      }
      await sleep(100);
    }
  }

  /** Polls the manager until the workspace's boot has settled (`ready` or `failed`); the error shows the last log lines. */
  async waitForBoot(id: string, timeoutMs = 30_000, manager = this.manager): Promise<WorkspaceStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = manager.get(id);
      if (status.boot && status.boot.state !== 'booting') return status;
      if (Date.now() > deadline) {
        const log = (manager.workspace(id)?.log.snapshot() ?? []).slice(-15).map((e) => `  ${e.kind}: ${e.message}`);
        throw new Error(`workspace ${id}'s boot did not settle within ${timeoutMs} ms; it is ${status.phase}, boot ${JSON.stringify(status.boot)}\n${log.join('\n')}`);
      }
      await sleep(100);
    }
  }

  /** Every manager shuts down leaving containers as they are, then this harness's containers and volumes go. */
  async cleanup(): Promise<void> {
    for (const manager of this.managers) await manager.shutdown('keep');
    // Containers first: one workspace's container may hold another's volume (a case a test expects refused).
    for (const id of this.usedIds) await removeContainersLabelled(`${WORKSPACE_LABEL}=${id}`);
    for (const id of this.usedIds) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

/** The engine's full inspect document (GET /containers/{id}/json), read past the product's adapter. */
export async function inspectRaw(nameOrId: string): Promise<Record<string, unknown> & { Id: string }> {
  const response = await engineRequest('GET', `/containers/${encodeURIComponent(nameOrId)}/json`);
  if (response.status !== 200) throw new Error(`inspect ${nameOrId}: ${response.status} ${response.body}`);
  return JSON.parse(response.body) as Record<string, unknown> & { Id: string };
}

/** Ids of all containers (any state) labelled as workspace `id`'s, straight from the engine. */
export async function containersOfWorkspace(id: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${WORKSPACE_LABEL}=${id}`] }));
  const response = await engineRequest('GET', `/containers/json?all=true&filters=${filters}`);
  if (response.status !== 200) throw new Error(`list containers of ${id}: ${response.status} ${response.body}`);
  return (JSON.parse(response.body) as { Id: string }[]).map((c) => c.Id);
}

/** Names of the volumes labelled as workspace `id`'s. */
export async function volumesOfWorkspace(id: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${WORKSPACE_LABEL}=${id}`] }));
  const response = await engineRequest('GET', `/volumes?filters=${filters}`);
  if (response.status !== 200) throw new Error(`list volumes of ${id}: ${response.status} ${response.body}`);
  return ((JSON.parse(response.body) as { Volumes: { Name: string }[] | null }).Volumes ?? []).map((v) => v.Name);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
