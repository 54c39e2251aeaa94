/** A copy of the Config that is safe to log: secrets replaced, everything else as loaded. */
import { isSecretEnvName } from '../spec/workspace-spec.js';
import type { Config } from './schema.js';

export const REDACTED = '[redacted]';

export function redactConfig(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.bootPullSecret !== undefined) copy.bootPullSecret = REDACTED;
  const spec = copy.bootWorkspace?.spec;
  if (spec !== undefined) {
    if (spec.bootstrap !== undefined) spec.bootstrap.script = REDACTED;
    if (spec.pullAuth !== undefined) spec.pullAuth.dockerConfigJson = REDACTED;
    const env = spec.env ?? {};
    for (const name of Object.keys(env)) {
      if (isSecretEnvName(name)) env[name] = REDACTED;
    }
  }
  return copy;
}
