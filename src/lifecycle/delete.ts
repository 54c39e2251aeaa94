/** Deleting a workspace: its container, then (with purge) its volumes, then its record. */
import { containerName } from '../container/container-spec.js';
import { madeBy, WORKSPACE_LABEL } from '../container/labels.js';
import { EngineUnavailableError } from '../engine/engine-errors.js';
import type { EngineContainers, EngineVolumes } from '../engine/types.js';
import { WorkspaceFailure } from '../errors.js';
import { toWorkspaceFailure } from './failure.js';
import { stopContainer } from './stop-container.js';
import type { StateStore } from './store.js';
import type { Workspace } from './workspace.js';

export interface DeleteDeps {
  engine: EngineContainers & EngineVolumes;
  store: StateStore;
  /** The daemon's --instance: only its own container and volumes are removed. */
  instance?: string | undefined;
}

/**
 * Removes the container, then (with purge) the workspace's volumes, then the record. One that cannot finish (a
 * volume still in use) ends failed, naming what is left behind; the record keeps its pending delete, so a second
 * DELETE or a daemon restart tries again. The purge flag is read when the volumes' turn comes: a second DELETE
 * during this one may have widened it.
 */
export async function deleteWorkspace(deps: DeleteDeps, ws: Workspace): Promise<void> {
  const { engine, store } = deps;
  ws.setPhase('deleting');
  const name = containerName(ws.id, deps.instance);
  try {
    const existing = await engine.inspectContainer(name);
    if (existing) {
      await stopContainer(engine, existing.id, existing.config.stopSignal);
      await engine.removeContainer(existing.id, { force: true });
    }
  } catch (err) {
    throw deleteFailure(err, [`container ${name}`]);
  }
  ws.containerId = null;
  const purge = ws.record.pending?.op === 'delete' && ws.record.pending.purge;
  if (purge) {
    const leftBehind: string[] = [];
    let firstError: unknown = null;
    const volumes = await engine.listVolumes([`${WORKSPACE_LABEL}=${ws.id}`]);
    for (const volume of volumes.filter((v) => madeBy(v.labels, deps.instance))) {
      try {
        await engine.removeVolume(volume.name);
      } catch (err) {
        if (err instanceof EngineUnavailableError) throw err;
        firstError ??= err;
        leftBehind.push(`volume ${volume.name}`);
      }
    }
    if (leftBehind.length > 0) throw deleteFailure(firstError, leftBehind);
  }
  await store.remove(ws.id);
  ws.log.append('info', purge ? 'deleted with its volumes' : 'deleted; volumes kept');
}

/** A delete that could not finish, for the workspace's message; an unreachable engine is retried as it is. */
function deleteFailure(err: unknown, leftBehind: readonly string[]): unknown {
  if (err instanceof EngineUnavailableError) return err;
  const failure = toWorkspaceFailure(err);
  return new WorkspaceFailure(failure.reason, `delete could not finish: ${failure.message}; left behind: ${leftBehind.join(', ')}; DELETE again to retry`);
}
