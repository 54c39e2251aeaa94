/**
 * Which engine the daemon uses (`--engine auto`, the default: host when a Docker engine answers, else embedded
 * when dockerd is installed), and starting embedded mode's own engine.
 */
import type { Logger } from 'pino';
import { type Config, ConfigError } from '../config/schema.js';
import { DockerEngine } from '../engine/docker.js';
import { dockerdInstalled, type EmbeddedEngine, EmbeddedSetupError } from '../engine/embedded.js';

export interface EngineChoice {
  mode: 'host' | 'embedded';
  /** Why, for the log and the preflight. */
  why: string;
}

export async function chooseEngineMode(config: Pick<Config, 'engine' | 'dockerHost'>, env: NodeJS.ProcessEnv = process.env): Promise<EngineChoice> {
  if (config.engine !== 'auto') return { mode: config.engine, why: `--engine ${config.engine}` };
  const answers = await new DockerEngine({ dockerHost: config.dockerHost }).ping(2000).then(() => true, () => false);
  if (answers) return { mode: 'host', why: `a Docker engine answers at ${config.dockerHost}` };
  if (await dockerdInstalled(env)) return { mode: 'embedded', why: `no Docker engine answers at ${config.dockerHost} and dockerd is installed` };
  throw new ConfigError(
    '--engine',
    `auto: no Docker engine answers at ${config.dockerHost} and dockerd is not installed: start the engine (or set --docker-host), or install docker.io for embedded mode`,
  );
}

/**
 * Starts embedded mode's engine, after `guard` put the rule that keeps workspaces off the daemon's port on its
 * bridge (so before any workspace can exist); true once it answers. A fault no retry mends (EmbeddedSetupError: a missing
 * program or capability) is fatal: `onFatal` gets it and the daemon exits, so that the orchestrator shows it and
 * restarts with its own backoff. Any other failure (sysbox or dockerd not up in time) leaves the daemon up and
 * unready, with the reason in /readyz and the log.
 */
export async function startOwnEngine(
  embedded: EmbeddedEngine,
  guard: () => Promise<void>,
  signal: AbortSignal,
  logger: Logger,
  onFatal: (reason: string) => void,
): Promise<boolean> {
  try {
    await guard();
    await embedded.start(signal);
    return true;
  } catch (err) {
    if (embedded.stopped) return false;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof EmbeddedSetupError) {
      logger.fatal({ err: message }, `the embedded engine cannot run here: ${message}`);
      onFatal(message);
    } else {
      logger.error({ err: message, reasons: embedded.reasons() }, `the embedded engine did not start: ${message}`);
    }
    return false;
  }
}
