/**
 * Crash restarts: a workspace's PID 1 died on its own (not by one of the daemon's operations). Per its restart
 * policy it is restarted after a capped, jittered backoff, or stays down; the decision and the backoff are pure.
 */
import { type Backoff, backoffMs } from '../backoff.js';
import type { RestartPolicy } from '../spec/workspace-spec.js';
import type { LifecycleMetrics } from './lifecycle-metrics.js';
import type { Operations } from './operations.js';
import type { StateStore } from './store.js';
import type { Workspace } from './workspace.js';

/** A run of PID 1 longer than this resets the crash backoff. */
const STABLE_RUN_MS = 10 * 60_000;

/** Decides what to do after PID 1 exited on its own (not by one of our operations). */
export function restartDecision(policy: RestartPolicy, exitCode: number, oomKilled: boolean): 'restart' | 'stay-down' {
  if (policy === 'always') return 'restart';
  if (policy === 'on-failure') return exitCode !== 0 || oomKilled ? 'restart' : 'stay-down';
  return 'stay-down';
}

/** After the n-th crash in a row: 1 s doubling to a minute, ±20 %. */
export const CRASH_BACKOFF: Backoff = { baseMs: 1000, maxMs: 60_000, spread: [0.8, 1.2] };

export interface CrashRestartDeps {
  ops: Operations;
  store: StateStore;
  metrics?: LifecycleMetrics;
  /** Queues a task after the workspace's other operations (the restart, once its backoff is over). */
  enqueue: (ws: Workspace, task: () => Promise<void>) => Promise<void>;
}

/** On the workspace's queue, after its container `containerId` died: restart later, or leave it down. */
export async function afterContainerDeath(ws: Workspace, containerId: string, deps: CrashRestartDeps): Promise<void> {
  if (ws.containerId !== containerId || ws.phase !== 'running' || ws.record.desired !== 'running' || ws.record.pending) return;
  const exit = await deps.ops.observeExit(ws);
  if (!exit) return;
  if (ws.startedAt && Date.now() - Date.parse(ws.startedAt) > STABLE_RUN_MS) ws.consecutiveCrashes = 0;
  ws.consecutiveCrashes += 1;
  if (restartDecision(ws.record.spec.restartPolicy ?? 'on-failure', exit.exitCode, exit.oomKilled) === 'stay-down') {
    // Like Docker's own policies: a workspace left down stays down across a daemon restart too.
    ws.record.desired = 'stopped';
    await deps.store.save(ws.record);
    // A clean exit (e.g. `poweroff` inside) is a stop, not a failure.
    if (exit.exitCode === 0 && !exit.oomKilled) ws.setPhase('stopped');
    else ws.setPhase('failed', exit);
    return;
  }
  ws.setPhase('failed', exit);
  const delayMs = backoffMs(ws.consecutiveCrashes, CRASH_BACKOFF);
  ws.log.append('info', `restarting in ${delayMs} ms (restart policy ${ws.record.spec.restartPolicy ?? 'on-failure'})`);
  ws.restartTimer = setTimeout(() => {
    ws.restartTimer = null;
    void deps.enqueue(ws, async () => {
      if (ws.phase !== 'failed' || ws.record.desired !== 'running') return;
      ws.record.restarts += 1;
      await deps.store.save(ws.record);
      deps.metrics?.restarted(exit.reason);
      await deps.ops.converge(ws);
    });
  }, delayMs);
}
