/**
 * The workspace manager: the public face of the lifecycle. It keeps one Workspace per id, serialises operations
 * per workspace (different workspaces run in parallel), persists desired state before touching the engine, and on
 * start adopts what the engine already runs so a crash leaves neither duplicates nor orphans. Deaths go to
 * crash-restarts.ts, operations the engine did not answer to engine-outage.ts.
 */
import type { Logger } from 'pino';
import { containerName } from '../container/container-spec.js';
import { GENERATION_LABEL, madeBy, SPEC_HASH_LABEL, WORKSPACE_LABEL } from '../container/labels.js';
import type { EngineEvents, EngineSystem } from '../engine/types.js';
import { InvalidSpecError, WorkspaceConflictError, WorkspaceNotFoundError } from '../errors.js';
import { removeStaleInspections } from '../image/inspection-container.js';
import { specHash } from '../spec/spec-hash.js';
import { isValidWorkspaceId, type WorkspaceSpec } from '../spec/workspace-spec.js';
import { afterContainerDeath, type CrashRestartDeps } from './crash-restarts.js';
import { EngineOutageRecovery } from './engine-outage.js';
import { KeyedQueue } from './keyed-queue.js';
import { type OperationDeps, Operations, type OperationsEngine } from './operations.js';
import type { Phase } from './phase.js';
import type { StateStore, WorkspaceRecord } from './store.js';
import { type ContainerDeath, ContainerWatcher } from './watcher.js';
import { Workspace, type WorkspaceStatus } from './workspace.js';

/** What the manager uses of the engine: the operations' slices, plus pings and the event stream. */
export type LifecycleEngine = OperationsEngine & EngineSystem & EngineEvents;

export interface ManagerOptions extends OperationDeps {
  engine: LifecycleEngine;
  store: StateStore;
  logger: Logger;
  /** Checks workspace `id`'s spec against the node before anything is stored (CvmDisabled, RuntimeMissing, mounts, volumes, devices). */
  precheck: (spec: WorkspaceSpec, id: string) => Promise<void>;
  /** This daemon's inspection-container owner (image/inspection-container.ts; daemon/wiring.ts inspectionOwnerFor). */
  inspectionOwner: string;
}

export class WorkspaceManager {
  private readonly workspaces = new Map<string, Workspace>();
  private readonly queue = new KeyedQueue();
  private readonly ops: Operations;
  private readonly watcher: ContainerWatcher;
  private readonly outage: EngineOutageRecovery;
  private readonly crashRestarts: CrashRestartDeps;
  private shuttingDown = false;

  constructor(private readonly options: ManagerOptions) {
    this.ops = new Operations(options);
    const enqueue = (ws: Workspace, task: () => Promise<void>): Promise<void> => this.enqueue(ws, task);
    this.outage = new EngineOutageRecovery({
      engine: options.engine,
      logger: options.logger,
      ops: this.ops,
      workspaces: () => this.workspaces.values(),
      enqueue,
      redo: (waiting) => {
        this.redoAfterOutage(waiting);
      },
      engineAnswers: () => {
        this.watcher.reconnectNow();
      },
      shuttingDown: () => this.shuttingDown,
    });
    this.crashRestarts = { ops: this.ops, store: options.store, ...(options.metrics ? { metrics: options.metrics } : {}), enqueue };
    this.watcher = new ContainerWatcher(
      options.engine,
      options.instance,
      (death) => {
        this.onDeath(death);
      },
      options.logger,
      () => {
        this.outage.eventStreamLost();
      },
    );
  }

  /** Loads desired state, adopts the engine's containers (one list call) and starts watching for deaths. */
  async init(): Promise<void> {
    const { store, engine, logger, instance } = this.options;
    await store.init();
    await removeStaleInspections(engine, this.options.inspectionOwner);
    const [records, labelled] = await Promise.all([
      store.loadAll((file, setAsideAs) => {
        logger.error({ file, setAsideAs }, 'a workspace record is not readable as one; set aside, the other workspaces load');
        this.options.metrics?.stateFileError('workspace-record', 'corrupt');
      }),
      engine.listContainers([WORKSPACE_LABEL]),
    ]);
    // Another daemon's on this engine (--instance) are never adopted, replaced or removed, even of the same id.
    const containers = labelled.filter((c) => madeBy(c.labels, instance));
    const known = new Set(records.map((r) => r.id));
    for (const stranger of containers.filter((c) => !known.has(c.labels[WORKSPACE_LABEL] ?? ''))) {
      // Left alone: with no record it may belong to another daemon on this engine, and removing is irreversible.
      logger.warn({ container: stranger.name, workspace: stranger.labels[WORKSPACE_LABEL] }, 'a workspace container with no desired state here');
    }
    this.watcher.start();
    for (const record of records) {
      const ws = this.track(new Workspace(record));
      const existing = containers.find((c) => c.labels[WORKSPACE_LABEL] === record.id && c.name === containerName(record.id, instance));
      // Known at once from the list's labels, so a PUT right after start already sees `outdated`.
      if (existing?.labels[GENERATION_LABEL] === String(record.generation)) {
        ws.containerId = existing.id;
        ws.containerSpecHash = existing.labels[SPEC_HASH_LABEL] ?? null;
      }
      void this.enqueue(ws, async () => {
        await this.ops.resume(ws, existing?.id ?? null);
        // A delete the previous daemon did not finish is done now: the workspace is gone, as after DELETE.
        if (ws.record.pending?.op === 'delete') this.workspaces.delete(ws.id);
      });
    }
    logger.info({ workspaces: records.length, containers: containers.length, othersContainers: labelled.length - containers.length }, 'adopted existing state');
  }

  /**
   * After the engine came back (its event stream broke, or embedded mode restarted it): every workspace meant to
   * run converges again at once (see engine-outage.ts).
   */
  resyncAfterEngineRestart(): Promise<void> {
    return this.outage.resyncAfterEngineRestart();
  }

  /** Every workspace's phase, cheaply (the metrics gauge reads it at each scrape). */
  *phases(): Iterable<Phase> {
    for (const ws of this.workspaces.values()) yield ws.phase;
  }

  /** What image GC must keep: each workspace's current image and the reference its spec names. */
  *neededImages(): Iterable<{ imageId: string | null; ref: string }> {
    for (const ws of this.workspaces.values()) yield { imageId: ws.imageId, ref: ws.record.spec.image };
  }

  list(): WorkspaceStatus[] {
    return [...this.workspaces.values()].map((ws) => ws.status(specHash(ws.record.spec)));
  }

  get(id: string): WorkspaceStatus {
    const ws = this.require(id);
    return ws.status(specHash(ws.record.spec));
  }

  workspace(id: string): Workspace | undefined {
    return this.workspaces.get(id);
  }

  /** Stores the desired spec and converges. A replaced spec takes effect at the next rebuild (`outdated`). */
  async put(id: string, spec: WorkspaceSpec): Promise<{ created: boolean; status: WorkspaceStatus }> {
    // The id becomes a file name in the state dir and part of container and volume names.
    if (!isValidWorkspaceId(id)) throw new InvalidSpecError('id', `${JSON.stringify(id)} is not a DNS label (1-63 of [a-z0-9-])`);
    await this.options.precheck(spec, id);
    const existing = this.workspaces.get(id);
    if (existing) {
      this.refuseIfDeleting(existing);
      existing.record.spec = spec;
      await this.options.store.save(existing.record);
      if (existing.containerId === null && existing.phase === 'failed' && existing.record.desired === 'running') {
        void this.enqueue(existing, () => this.ops.converge(existing));
      }
      return { created: false, status: this.get(id) };
    }
    const record: WorkspaceRecord = {
      id,
      spec,
      desired: 'running',
      generation: 1,
      pending: { op: 'create' },
      createdAt: new Date().toISOString(),
      restarts: 0,
    };
    // Tracked before the write, so a second PUT arriving meanwhile replaces this spec instead of creating the
    // workspace again (two Workspaces of one id would both create, and the stale one's record could win on disk).
    const ws = this.track(new Workspace(record));
    try {
      await this.options.store.save(record);
    } catch (err) {
      this.workspaces.delete(id);
      throw err;
    }
    void this.enqueue(ws, () => this.ops.converge(ws));
    return { created: true, status: this.get(id) };
  }

  async start(id: string): Promise<WorkspaceStatus> {
    this.refuseIfDeleting(this.require(id));
    return this.changeDesired(id, 'running', (ws) => this.ops.converge(ws));
  }

  async stop(id: string): Promise<WorkspaceStatus> {
    this.refuseIfDeleting(this.require(id));
    return this.changeDesired(id, 'stopped', (ws) => this.ops.stop(ws));
  }

  async restart(id: string): Promise<WorkspaceStatus> {
    this.refuseIfDeleting(this.require(id));
    return this.changeDesired(id, 'running', async (ws) => {
      await this.ops.stop(ws);
      await this.ops.converge(ws);
    });
  }

  /**
   * Recreates the container from the current spec; volumes stay. Pulls again unless pullPolicy is never, or
   * `pull` is false, which pulls only a missing image.
   */
  async rebuild(id: string, options: { pull: boolean } = { pull: true }): Promise<WorkspaceStatus> {
    const ws = this.require(id);
    this.refuseIfDeleting(ws);
    ws.record.generation += 1;
    ws.record.pending = { op: 'rebuild', pull: options.pull };
    return this.changeDesired(id, ws.record.desired, (w) => this.ops.converge(w));
  }

  async delete(id: string, purge: boolean): Promise<WorkspaceStatus> {
    const ws = this.require(id);
    const pending = ws.record.pending;
    if (pending?.op === 'delete' && ws.phase !== 'failed') {
      // Already on its way out; a second request can only widen it to a purge.
      pending.purge ||= purge;
      await this.options.store.save(ws.record);
      return ws.status(specHash(ws.record.spec));
    }
    // A delete that failed is tried again, as a purge if either request asked for one.
    ws.record.pending = { op: 'delete', purge: purge || (pending?.op === 'delete' && pending.purge) };
    return this.changeDesired(id, 'stopped', async (w) => {
      await this.ops.converge(w);
      this.workspaces.delete(id);
    });
  }

  /** Waits until every queued operation has settled (tests, shutdown). */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /**
   * Shutdown: stop watching, cancel pulls, bootstraps and restart timers, then stop (policy `stop`; by `deadline`,
   * epoch ms, when given) or leave (`keep`) the containers. Desired state stays as it was, so a restarted daemon
   * brings them back. Every stop is waited for, also after one failed; then the failures are logged and reported.
   */
  async shutdown(policy: 'stop' | 'keep', deadline?: number): Promise<void> {
    this.shuttingDown = true;
    for (const ws of this.workspaces.values()) {
      if (ws.restartTimer) clearTimeout(ws.restartTimer);
      ws.abort.abort();
      ws.boot?.cancel();
    }
    await this.watcher.stop();
    await this.queue.idle();
    await this.ops.boots.written();
    if (policy !== 'stop') return;
    const stopping = [...this.workspaces.values()];
    const results = await Promise.allSettled(stopping.map((ws) => this.queue.run(ws.id, () => this.ops.stopForShutdown(ws, deadline))));
    const failed = stopping.filter((ws, i) => {
      const result = results[i];
      if (result?.status !== 'rejected') return false;
      this.options.logger.error({ workspace: ws.id, err: result.reason instanceof Error ? result.reason.message : String(result.reason) }, 'workspace did not stop at shutdown');
      return true;
    });
    if (failed.length > 0) {
      throw new Error(`${failed.length} workspace${failed.length === 1 ? '' : 's'} did not stop at shutdown: ${failed.map((ws) => ws.id).join(', ')}`);
    }
  }

  /** Registers a workspace and mirrors its phase changes and failures into the daemon's log for admins. */
  private track(ws: Workspace): Workspace {
    this.workspaces.set(ws.id, ws);
    ws.log.subscribe((event) => {
      if (event.kind === 'phase' || event.kind === 'failure') {
        this.options.logger.info({ workspace: ws.id, phase: ws.phase, reason: ws.reason, detail: ws.message }, `workspace ${ws.id} is ${ws.phase}`);
      }
    });
    return ws;
  }

  private require(id: string): Workspace {
    const ws = this.workspaces.get(id);
    if (!ws) throw new WorkspaceNotFoundError(id);
    return ws;
  }

  private refuseIfDeleting(ws: Workspace): void {
    if (ws.record.pending?.op !== 'delete') return;
    if (ws.phase === 'failed') throw new WorkspaceConflictError(ws.id, 'could not be deleted; DELETE again to retry');
    throw new WorkspaceConflictError(ws.id, 'is being deleted; try again once it is gone');
  }

  private async changeDesired(id: string, desired: 'running' | 'stopped', op: (ws: Workspace) => Promise<void>): Promise<WorkspaceStatus> {
    const ws = this.require(id);
    ws.record.desired = desired;
    if (ws.restartTimer) clearTimeout(ws.restartTimer);
    ws.restartTimer = null;
    // Cancels a pull or bootstrap still running for the previous operation.
    ws.renewAbort();
    await this.options.store.save(ws.record);
    void this.enqueue(ws, () => op(ws));
    return ws.status(specHash(ws.record.spec));
  }

  private enqueue(ws: Workspace, task: () => Promise<void>): Promise<void> {
    return this.queue.run(ws.id, async () => {
      if (this.shuttingDown) return;
      if ((await this.ops.guard(ws, task)) === 'EngineUnavailable') this.outage.retryWhenEngineAnswers(ws);
    });
  }

  /** Converges again the workspaces whose operation met the unreachable engine (see engine-outage.ts). */
  private redoAfterOutage(waiting: readonly Workspace[]): void {
    // A workspace deleted (or deleted and made anew) meanwhile is no longer this one.
    for (const w of waiting.filter((w) => this.workspaces.get(w.id) === w)) {
      void this.enqueue(w, async () => {
        await this.ops.converge(w);
        if (w.record.pending?.op === 'delete') this.workspaces.delete(w.id);
      });
    }
  }

  private onDeath(death: ContainerDeath): void {
    const ws = this.workspaces.get(death.workspaceId);
    if (!ws) return;
    void this.enqueue(ws, () => afterContainerDeath(ws, death.containerId, this.crashRestarts));
  }
}
