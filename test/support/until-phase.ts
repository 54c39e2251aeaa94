/** Waiting for a workspace's phase from its event log: no polling delay ends up in what benchmarks and drills time. */
import type { WorkspaceManager } from '../../src/lifecycle/manager.js';
import type { Phase } from '../../src/lifecycle/phase.js';

/** Resolves when the workspace reaches `phase` (from its event log, so no polling delay is measured). */
export function untilPhase(manager: WorkspaceManager, id: string, phase: Phase, timeoutMs = 60_000): Promise<void> {
  return waitForPhase(manager, id, phase, timeoutMs, false);
}

/**
 * Like untilPhase(…, 'running'), but rejects as soon as the workspace fails, with its reason: a benchmark waiting
 * for many workspaces must not sit out the whole timeout for one that will never run.
 */
export function untilRunning(manager: WorkspaceManager, id: string, timeoutMs = 60_000): Promise<void> {
  return waitForPhase(manager, id, 'running', timeoutMs, true);
}

function waitForPhase(manager: WorkspaceManager, id: string, phase: Phase, timeoutMs: number, failFast: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = manager.workspace(id)?.log;
    if (!log) {
      reject(new Error(`no workspace ${id}`));
      return;
    }
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      unsubscribe();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => {
      settle(new Error(`${id} not ${phase} within ${timeoutMs} ms (it is ${manager.get(id).phase})`));
    }, timeoutMs);
    const check = (): void => {
      const status = manager.get(id);
      if (status.phase === phase) settle();
      else if (failFast && status.phase === 'failed') settle(new Error(`${id} failed instead of reaching ${phase}: ${status.reason ?? ''}: ${status.message ?? ''}`));
    };
    const unsubscribe = log.subscribe(check);
    check();
  });
}
