/**
 * Config that `serve` refuses at start (exit 2, one line naming the flag), because it would widen what a workspace
 * reaches: an allowed mount root that is, contains or lies in a protected path; a CVM runtime that is not sysbox
 * without the escape flag.
 */
import type { Logger } from 'pino';
import { type Config, ConfigError, isSysboxRuntime } from '../config/schema.js';
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

/**
 * A CVM on a runtime other than sysbox runs as a plain container: no user namespace, so root inside is root on the
 * host. Never quietly: refused, or with the escape flag a warning at every start.
 */
export function checkCvmRuntime(config: Pick<Config, 'runtime' | 'cvmEnabled' | 'allowNonSysboxCvmRuntime'>, logger: Logger): void {
  if (!config.cvmEnabled || isSysboxRuntime(config.runtime)) return;
  if (!config.allowNonSysboxCvmRuntime) {
    throw new ConfigError(
      '--runtime',
      `${config.runtime} is not sysbox: CVMs would run without a user namespace (root inside is root on the host); use sysbox-runc, or --allow-non-sysbox-cvm-runtime true to accept that`,
    );
  }
  logger.warn(
    { runtime: config.runtime },
    `UNSAFE: CVMs run on ${config.runtime}, which is not sysbox (--allow-non-sysbox-cvm-runtime): no user namespace, root in a workspace is root on the host`,
  );
}
