/**
 * The envbox-style workspace declared by config. Unlike a PUT, a changed declaration is applied at once: an envbox
 * user who changes CODER_INNER_IMAGE and restarts the pod expects the new image. It pulls only what is missing.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { drawPullProgress } from '../image/pull-progress-bar.js';
import type { WorkspaceManager } from '../lifecycle/manager.js';

export async function declareBootWorkspace(manager: WorkspaceManager, config: Config, logger: Logger): Promise<void> {
  if (!config.bootWorkspace) return;
  const { id, spec } = config.bootWorkspace;
  const { created, status } = await manager.put(id, spec);
  // On a terminal the boot workspace's pull shows as a progress bar (stderr: stdout carries the log).
  const log = manager.workspace(id)?.log;
  if (process.stderr.isTTY && log) drawPullProgress(log, (text) => process.stderr.write(text), `pulling ${spec.image}`);
  if (!created && status.outdated) {
    logger.info({ workspace: id }, 'the boot workspace declaration changed; rebuilding');
    await manager.rebuild(id, { pull: false });
  } else {
    logger.info({ workspace: id, created }, 'declared the boot workspace');
  }
}
