/**
 * The node's pull secret: CODER_IMAGE_PULL_SECRET, then --pull-secret-file, whose entries win for the same host.
 * The file is read at every pull, so a rotated Kubernetes secret takes effect without a restart.
 */
import { readFile } from 'node:fs/promises';
import { type Config, ConfigError } from '../config/schema.js';
import { WorkspaceFailure } from '../errors.js';
import { InvalidDockerConfigError, parseDockerConfigJson, type RegistryCredentials } from '../image/registry-auth.js';

export function nodePullCredentials(config: Config): () => Promise<RegistryCredentials | undefined> {
  let fromEnv: RegistryCredentials | undefined;
  try {
    fromEnv = config.bootPullSecret === undefined ? undefined : parseDockerConfigJson(config.bootPullSecret);
  } catch (err) {
    if (err instanceof InvalidDockerConfigError) throw new ConfigError('CODER_IMAGE_PULL_SECRET', `(redacted) ${err.message}`);
    throw err;
  }
  const file = config.pullSecretFile;
  if (file === undefined) return () => Promise.resolve(fromEnv);
  return async () => {
    let fromFile: RegistryCredentials;
    try {
      fromFile = parseDockerConfigJson(await readFile(file, 'utf8'));
    } catch (err) {
      const why = err instanceof InvalidDockerConfigError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err));
      throw new WorkspaceFailure('ImagePullAuthFailed', `--pull-secret-file ${file}: ${why}`);
    }
    return new Map([...(fromEnv ?? []), ...fromFile]);
  };
}
