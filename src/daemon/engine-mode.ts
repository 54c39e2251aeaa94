/** `--engine auto`: host when a Docker socket answers, else embedded when dockerd is installed, else an error. */
import type { Logger } from 'pino';
import { type Config, ConfigError } from '../config/schema.js';
import { DockerEngine } from '../engine/docker.js';
import { dockerdInstalled } from '../engine/embedded.js';

export async function chooseEngineMode(config: Config, logger: Logger): Promise<'host' | 'embedded'> {
  if (config.engine !== 'auto') return config.engine;
  const answers = await new DockerEngine({ dockerHost: config.dockerHost }).ping(2000).then(() => true, () => false);
  const mode = answers ? 'host' : (await dockerdInstalled()) ? 'embedded' : null;
  if (mode === null) throw new ConfigError('--engine', `auto: no engine answers at ${config.dockerHost} and dockerd is not installed`);
  logger.info({ engine: mode, dockerHost: config.dockerHost }, `--engine auto chose ${mode}`);
  return mode;
}
