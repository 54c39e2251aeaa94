/** Waiting for a workspace's phase from its event log: no polling delay ends up in what benchmarks and drills time. */
import type { WorkspaceManager } from '../../src/workspace/manager.js';
import type { Phase } from '../../src/workspace/phase.js';

/** Resolves when the workspace reaches `phase` (from its event log, so no polling delay is measured). */
export function untilPhase(manager: WorkspaceManager, id: string, phase: Phase, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = manager.workspace(id)?.log;
    if (!log) {
      reject(new Error(`no workspace ${id}`));
      return;
    }
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${id} not ${phase} within ${timeoutMs} ms (it is ${manager.get(id).phase})`));
    }, timeoutMs);
    const check = (): void => {
      if (manager.get(id).phase !== phase) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    };
    const unsubscribe = log.subscribe(check);
    check();
  });
}
