/**
 * The steps of each lifecycle operation against the engine. Every step is idempotent and re-checks the engine,
 * because after a crash any of them may run again: the container name is deterministic (`cvm-<id>`, and
 * `.<instance>` with --instance) and carries its generation, so a resumed create finds its own container instead of
 * making a second one. The create is in create-container.ts, the delete in delete.ts, the engine stop in
 * stop-container.ts.
 */
import type { Logger } from 'pino';
import { STOP_TIMEOUT_SECONDS, SYSTEMD_STOP_SIGNAL } from '../container/container-spec.js';
import { gpuDriverChange } from '../container/device-mappings.js';
import { GENERATION_LABEL, GPU_DRIVER_LABEL, madeBy, SPEC_HASH_LABEL } from '../container/labels.js';
import { recheckBinds, type ResolvedMountSources } from '../container/mounts.js';
import { hostPathOf } from '../container/host-paths.js';
import type { NodeFacts } from '../container/node-facts.js';
import type { ContainerDetails, EngineArchive, EngineContainers, EngineExec, EngineImages, EngineVolumes } from '../engine/types.js';
import { WorkspaceFailure } from '../errors.js';
import type { FailureReason } from '../errors.js';
import { planGpus } from '../gpu/plan.js';
import { ensureImage } from '../image/ensure-image.js';
import type { ImageToDetect } from '../image/facts-detector.js';
import type { ImageFacts, OsRelease } from '../image/facts.js';
import type { ImagePuller } from '../image/image-puller.js';
import { recordedDigest } from '../image/reference.js';
import type { RegistryCredentials } from '../image/registry-auth.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';
import { Boots } from './boot.js';
import { bootExec } from './boot-checks.js';
import { type Created, createWorkspaceContainer, gpuSummaries, type Target } from './create-container.js';
import { installBootstrap, runBootstrap } from './bootstrap.js';
import { deleteWorkspace } from './delete.js';
import { toWorkspaceFailure } from './failure.js';
import { type LifecycleMetrics, timed } from './lifecycle-metrics.js';
import { killBefore, stopContainer } from './stop-container.js';
import type { PendingOperation, StateStore } from './store.js';
import type { GpuSummary, Workspace } from './workspace.js';

/** The engine slices the operations use. */
export type OperationsEngine = EngineContainers & EngineImages & EngineVolumes & EngineArchive & EngineExec;

export interface OperationDeps {
  engine: OperationsEngine;
  store: StateStore;
  logger: Logger;
  /** Facts of an image the engine has; its layer directories, when known, spare an inspection container. */
  imageFacts: (image: ImageToDetect) => Promise<ImageFacts>;
  /** Fresh node facts (the engine's runtimes can change under us). */
  nodeFacts: () => Promise<NodeFacts>;
  resolveMountSources: (sources: string[]) => Promise<ResolvedMountSources>;
  /** The node's single-flight puller, shared by every workspace. */
  puller: ImagePuller;
  /**
   * Image GC's record of use: a workspace was made from (or adopted with) this image. Never rejects, and is not
   * waited for: its durable write is bookkeeping, not the workspace's path (GC never removes an image in use).
   */
  imageUsed?: (imageId: string) => Promise<void>;
  /** The node's pull secret, if any, read afresh for each pull. */
  nodeCredentials: () => Promise<RegistryCredentials | undefined>;
  metrics?: LifecycleMetrics;
  /** This daemon's --instance: what it makes carries it, and it touches nothing that does not (container/labels.ts). */
  instance?: string | undefined;
  /** How long a systemd workspace may take to settle before its boot fails (--boot-timeout). */
  bootTimeoutMs: number;
}

export interface PidOneExit {
  exitCode: number;
  oomKilled: boolean;
  reason: FailureReason;
  message: string;
}

export class Operations {
  /** Whether each running workspace is usable yet. */
  readonly boots: Boots;

  constructor(private readonly deps: OperationDeps) {
    const { metrics } = deps;
    this.boots = new Boots({
      exec: bootExec(deps.engine),
      timeoutMs: deps.bootTimeoutMs,
      persist: (ws) => deps.store.save(ws.record),
      ...(metrics ? { booted: (mode, seconds) => { metrics.booted(mode, seconds); } } : {}),
      logger: deps.logger,
    });
  }

  /**
   * Runs an operation; an error marks the workspace failed with a reason code, unless the operation was cancelled.
   * Returns the reason it failed for, null when it succeeded or was cancelled.
   */
  async guard(ws: Workspace, task: () => Promise<void>): Promise<FailureReason | null> {
    const signal = ws.abort.signal;
    try {
      await task();
      return null;
    } catch (err) {
      if (signal.aborted) return null;
      const failure = toWorkspaceFailure(err);
      this.deps.logger.error({ workspace: ws.id, reason: failure.reason, err: failure.message }, 'workspace operation failed');
      ws.setPhase('failed', { reason: failure.reason, message: failure.message });
      return failure.reason;
    }
  }

  /** After a daemon (re)start: finish what was interrupted, or adopt the container as it is. */
  async resume(ws: Workspace, containerId: string | null): Promise<void> {
    if (ws.record.pending || containerId === null) {
      await this.converge(ws);
      return;
    }
    const details = await this.adoptContainer(ws, containerId);
    if (!details) {
      await this.converge(ws);
      return;
    }
    if (details.running && ws.record.desired === 'running') {
      ws.setPhase('running');
      this.boots.adopted(ws);
      return;
    }
    await this.converge(ws);
  }

  /**
   * Moves the workspace towards its record: finish a pending operation, then match the desired state. The whole
   * operation works on the spec and generation as they are now: a PUT meanwhile replaces the record's spec, and the
   * container then shows as outdated rather than made from a mix of the two; a rebuild meanwhile makes another.
   */
  async converge(ws: Workspace): Promise<void> {
    const target: Target = { spec: ws.record.spec, generation: ws.record.generation };
    const pending = ws.record.pending;
    if (pending?.op === 'delete') {
      await deleteWorkspace(this.deps, ws);
      return;
    }
    const existing = pending || ws.containerId === null ? undefined : await this.deps.engine.inspectContainer(ws.containerId);
    let completing: PendingOperation | null = pending ?? (existing ? null : { op: 'create' });
    const bindsDriver = existing?.labels[GPU_DRIVER_LABEL] !== undefined && !existing.state.running && ws.record.desired === 'running';
    const driverChange = bindsDriver ? gpuDriverChange(existing.labels, await this.deps.nodeFacts()) : null;
    if (driverChange !== null) {
      // As a rebuild without a pull: a new generation, so the create replaces the container; volumes stay.
      ws.log.append('info', `${driverChange}: making the container again`);
      ws.record.generation += 1;
      target.generation = ws.record.generation;
      completing = { op: 'rebuild', pull: false };
    }
    let created: Created = { recorded: Promise.resolve(), made: false };
    if (completing) {
      if (completing !== pending) {
        ws.record.pending = completing;
        await this.deps.store.save(ws.record);
      }
      created = await this.create(ws, target, completing.op === 'rebuild' && completing.pull, completing);
    }
    try {
      if (ws.record.desired === 'running') await this.startContainer(ws, target.spec, created.made);
      else await this.stop(ws);
    } finally {
      // The operation ends only once its write has: nothing lands in the state dir after it (or after shutdown).
      await created.recorded;
    }
  }

  /** With a deadline (the daemon's shutdown), the engine's SIGKILL comes early enough that the container is down by then. */
  async stop(ws: Workspace, deadline?: number): Promise<void> {
    if (ws.containerId === null) {
      ws.setPhase('stopped');
      return;
    }
    ws.setPhase('stopping');
    const timeoutSeconds = deadline === undefined ? undefined : killBefore(deadline, ws.init === null ? null : STOP_TIMEOUT_SECONDS[ws.init.mode]);
    await stopContainer(this.deps.engine, ws.containerId, ws.init?.mode === 'systemd' ? SYSTEMD_STOP_SIGNAL : null, timeoutSeconds);
    ws.setPhase('stopped');
  }

  /** Daemon shutdown with policy `stop`: the container stops by `deadline`, the desired state stays `running`. */
  async stopForShutdown(ws: Workspace, deadline?: number): Promise<void> {
    if (ws.containerId === null || (ws.phase !== 'running' && ws.phase !== 'starting')) return;
    await this.stop(ws, deadline);
  }

  /** After a `die` event: how PID 1 exited. Null when the container is in fact running again. */
  async observeExit(ws: Workspace): Promise<PidOneExit | null> {
    if (ws.containerId === null) return null;
    const details = await this.deps.engine.inspectContainer(ws.containerId);
    if (!details || details.state.running) return null;
    const { exitCode, oomKilled } = details.state;
    return {
      exitCode,
      oomKilled,
      reason: oomKilled ? 'OOMKilled' : 'ContainerExited',
      message: oomKilled ? 'PID 1 was killed for running out of memory' : `PID 1 exited with code ${exitCode}`,
    };
  }

  private async adoptContainer(ws: Workspace, containerId: string): Promise<{ running: boolean } | null> {
    const details = await this.deps.engine.inspectContainer(containerId);
    if (!details || !madeBy(details.labels, this.deps.instance) || details.labels[GENERATION_LABEL] !== String(ws.record.generation)) return null;
    ws.containerId = details.id;
    ws.containerSpecHash = details.labels[SPEC_HASH_LABEL] ?? null;
    ws.runtime = details.hostConfig.runtime;
    ws.imageId = details.image;
    void this.deps.imageUsed?.(details.image);
    ws.startedAt = details.state.running ? details.state.startedAt : null;
    ws.workdir = details.config.workingDir;
    const image = await this.deps.engine.inspectImage(details.image);
    const facts = await this.deps.imageFacts(image ?? { id: details.image });
    ws.init = facts.init;
    ws.users = facts.users;
    ws.gpus = await this.gpusOf(ws, facts.osRelease);
    ws.imageDigest = image ? recordedDigest(ws.record.spec.image, image.repoDigests) : null;
    return { running: details.state.running };
  }

  private async create(ws: Workspace, target: Target, forcePull: boolean, completing: PendingOperation): Promise<Created> {
    const { engine, metrics } = this.deps;
    const { spec } = target;
    ws.setPhase('pulling');
    const image = await timed(metrics, 'pull', () =>
      ensureImage({ engine, puller: this.deps.puller, nodeCredentials: this.deps.nodeCredentials }, spec, forcePull, ws.log, ws.abort.signal),
    );
    metrics?.pulled(image.pulledBytes);
    ws.imageId = image.id;
    ws.imageDigest = image.digest;
    void this.deps.imageUsed?.(image.id);
    const facts = await timed(metrics, 'detect', () => this.deps.imageFacts(image));
    ws.init = facts.init;
    ws.users = facts.users;
    ws.log.append('detect', `init: ${facts.init.mode}${facts.init.target ? ` (${facts.init.target})` : ''}`, { init: facts.init });

    ws.setPhase('creating');
    const created = await timed(metrics, 'create', () => createWorkspaceContainer(this.deps, ws, target, image.id, facts, completing));
    if (ws.record.desired !== 'running') ws.setPhase('stopped');
    return created;
  }

  /** `made`: this operation made the container a moment ago from bind sources it resolved then; it is not running. */
  private async startContainer(ws: Workspace, spec: WorkspaceSpec, made: boolean): Promise<void> {
    const { engine } = this.deps;
    if (ws.containerId === null) throw new WorkspaceFailure('ContainerExited', 'no container to start');
    const containerId = ws.containerId;
    const before = made ? null : await engine.inspectContainer(containerId);
    if (ws.phase === 'running' && before?.state.running) return;
    await this.recheckBinds(before?.mounts ?? []);
    ws.setPhase('starting');
    // Before every start, while the container is down: a script changed or added since the last start runs.
    if (spec.bootstrap && !before?.state.running) await installBootstrap(engine, containerId, spec.bootstrap.script, spec.username ?? 'root', ws.users);
    const after = await timed(this.deps.metrics, 'start', async () => {
      await engine.startContainer(containerId);
      return engine.inspectContainer(containerId);
    });
    if (!after?.state.running) {
      throw new WorkspaceFailure('ContainerExited', `PID 1 exited right after start with code ${after?.state.exitCode ?? 'unknown'}`);
    }
    ws.startedAt = after.state.startedAt;
    ws.setPhase('running');
    if (spec.gpus?.enabled === true) await this.refreshLibraryCache(ws, containerId);
    this.boots.started(ws, this.startBootstrap(ws, spec));
  }

  /** The engine mounts each bind source again at every start: see container/mounts.ts recheckBinds. */
  private async recheckBinds(mounts: ContainerDetails['mounts']): Promise<void> {
    const binds = mounts.filter((m) => m.type === 'bind');
    if (binds.length === 0) return;
    const node = await this.deps.nodeFacts();
    const resolved = await this.deps.resolveMountSources(binds.map((b) => hostPathOf(b.source, node.engineHostRoot) ?? b.source));
    recheckBinds(binds, resolved, node);
  }

  /** So the GPU driver's libraries are found by soname. Best effort: an image without ldconfig still runs. */
  private async refreshLibraryCache(ws: Workspace, containerId: string): Promise<void> {
    try {
      const { exitCode } = await this.deps.engine.exec(containerId, { cmd: ['ldconfig'], user: '0:0', signal: ws.abort.signal });
      if (exitCode !== 0) ws.log.append('info', `ldconfig exited with ${exitCode}; GPU libraries are found by their full names only`);
    } catch (err) {
      ws.log.append('info', `ldconfig could not run (${err instanceof Error ? err.message : String(err)}); GPU libraries are found by their full names only`);
    }
  }

  /** After a daemon restart: the GPUs the workspace's spec selects on this node now; none when that fails. */
  private async gpusOf(ws: Workspace, osRelease: OsRelease | null): Promise<GpuSummary[]> {
    if (ws.record.spec.gpus?.enabled !== true) return [];
    try {
      return gpuSummaries(planGpus(ws.record.spec, (await this.deps.nodeFacts()).gpus, osRelease)?.gpus ?? []);
    } catch {
      return [];
    }
  }

  /** Runs in the background: the Coder agent normally never exits. Its exit code, for the boot; null without a script. */
  private startBootstrap(ws: Workspace, spec: WorkspaceSpec): Promise<number> | null {
    const script = spec.bootstrap?.script;
    if (!script || ws.containerId === null) return null;
    const user = spec.username ?? 'root';
    const run = runBootstrap(this.deps.engine, ws.containerId, { script, user, workdir: ws.workdir ?? '/', log: ws.log, signal: ws.abort.signal });
    run.catch((err: unknown) => {
      if (!ws.abort.signal.aborted) ws.log.append('bootstrap', `bootstrap failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    return run;
  }
}
