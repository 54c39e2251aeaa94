/**
 * Config that `serve` refuses at start (exit 2, one line naming the flag), because it would widen what a workspace
 * reaches: an allowed mount root that is, contains or lies in a protected path.
 */
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/schema.js';
import { allowedRootRefusal } from '../container/protected-paths.js';
import { type NodeFiles, readDaemonFilesInHostTerms } from './host-readers.js';

export async function checkAllowedMountRoots(config: Config, files: NodeFiles): Promise<void> {
  if (config.allowedMountRoots.length === 0) return;
  const daemonFiles = await readDaemonFilesInHostTerms(config, files);
  for (const root of config.allowedMountRoots) {
    const refusal = allowedRootRefusal(root, daemonFiles);
    if (refusal !== null) throw new ConfigError('--allowed-mount-root', refusal);
  }
}
