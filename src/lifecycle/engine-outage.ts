/**
 * Recovery from an engine outage. An operation cut short by an unreachable engine (restarted, or gone for a while)
 * converges again once the engine answers: nothing else would redo it. A broken event stream may have lost deaths
 * for good, so once the engine answers every workspace meant to run is checked (resyncAfterEngineRestart).
 */
import type { Logger } from 'pino';
import { WORKSPACE_LABEL } from '../container/labels.js';
import type { EngineContainers, EngineSystem } from '../engine/types.js';
import type { Operations } from './operations.js';
import type { Workspace } from './workspace.js';

/** How often workspaces whose operation met an unreachable engine check whether it answers again. */
const ENGINE_RETRY_MS = 500;
/** After an engine outage the workspaces are checked when it answers, and once more this much later. */
const RESYNC_AGAIN_MS = 3_000;

/** What the recovery uses of the manager. */
export interface EngineOutageDeps {
  engine: EngineSystem & Pick<EngineContainers, 'listContainers'>;
  logger: Logger;
  ops: Operations;
  /** The manager's workspaces as they are now. */
  workspaces: () => Iterable<Workspace>;
  /** Queues a task after the workspace's other operations. */
  enqueue: (ws: Workspace, task: () => Promise<void>) => Promise<void>;
  /** Converges again the workspaces whose operation met the unreachable engine. */
  redo: (waiting: Workspace[]) => void;
  /** The engine answers again: the event stream reconnects now rather than at the end of its backoff. */
  engineAnswers: () => void;
  shuttingDown: () => boolean;
}

export class EngineOutageRecovery {
  /** Workspaces whose last operation failed because the engine did not answer; redone once it answers. */
  private readonly awaitingEngine = new Set<Workspace>();
  /** The event stream broke: once the engine answers, check every workspace (resyncAfterEngineRestart). */
  private resyncWanted = false;
  private engineWait: Promise<void> | null = null;

  constructor(private readonly deps: EngineOutageDeps) {}

  /**
   * After the engine came back (its event stream broke, or embedded mode restarted it): the deaths it caused may
   * never be reported (a restarted engine forgets its event history; an inspect after a die event may have failed
   * mid-shutdown), and an operation cut short by its shutdown may have left a workspace failed. Every workspace
   * meant to run converges again at once: the engine's restart is not the workspace's crash, so no backoff and no
   * restart counted. One list call; only the workspaces that look down are inspected.
   */
  async resyncAfterEngineRestart(): Promise<void> {
    const containers = await this.deps.engine.listContainers([WORKSPACE_LABEL]);
    for (const ws of this.deps.workspaces()) {
      const container = containers.find((c) => c.id === ws.containerId);
      if (ws.record.desired !== 'running' || ws.record.pending || (ws.phase === 'running' && container?.state === 'running')) continue;
      void this.deps.enqueue(ws, async () => {
        // Re-checked in turn: an operation queued before this one may have settled it.
        if (ws.record.desired !== 'running' || ws.record.pending || !['running', 'failed'].includes(ws.phase)) return;
        // A death the engine's shutdown caused may already count as a crash: the backoff it started is cancelled.
        if (ws.restartTimer) clearTimeout(ws.restartTimer);
        ws.restartTimer = null;
        ws.consecutiveCrashes = 0;
        if (ws.phase === 'running') {
          const exit = await this.deps.ops.observeExit(ws);
          if (!exit) return;
          ws.setPhase('failed', { reason: exit.reason, message: `${exit.message} (the engine restarted)` });
        }
        await this.deps.ops.converge(ws);
      });
    }
  }

  /** An operation on `ws` failed because the engine did not answer: it is redone once the engine answers. */
  retryWhenEngineAnswers(ws: Workspace): void {
    this.awaitingEngine.add(ws);
    this.whenEngineAnswers();
  }

  /** The event stream broke: events may be lost for good (a restarted engine forgets its history). */
  eventStreamLost(): void {
    this.resyncWanted = true;
    this.whenEngineAnswers();
  }

  /** One ping loop serves every workspace waiting for the engine, and the resync after a broken event stream. */
  private whenEngineAnswers(): void {
    this.engineWait ??= this.untilEngineAnswers().then(async () => {
      this.engineWait = null;
      this.deps.engineAnswers();
      const waiting = [...this.awaitingEngine];
      this.awaitingEngine.clear();
      this.deps.redo(waiting);
      if (!this.resyncWanted || this.deps.shuttingDown()) return;
      this.resyncWanted = false;
      await this.resync();
      // An engine still answering in the middle of its shutdown may refuse what this pass started: once more, later.
      setTimeout(() => {
        if (!this.deps.shuttingDown()) void this.resync();
      }, RESYNC_AGAIN_MS).unref();
    });
  }

  private async resync(): Promise<void> {
    await this.resyncAfterEngineRestart().catch((err: unknown) => {
      this.deps.logger.error({ err }, 'resync after the engine came back failed; trying again');
      this.resyncWanted = true;
      this.whenEngineAnswers();
    });
  }

  private async untilEngineAnswers(): Promise<void> {
    while (!this.deps.shuttingDown()) {
      await new Promise((resolve) => setTimeout(resolve, ENGINE_RETRY_MS).unref());
      if (await this.deps.engine.ping(1000).then(() => true, () => false)) return;
    }
  }
}
