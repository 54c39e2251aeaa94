/**
 * A copy of the Config that is safe to log: secrets replaced, everything else as loaded. Env values are all
 * replaced, whatever their names: CODER_INNER_ENVS copies values such as DATABASE_URL or HTTPS_PROXY, whose
 * credentials no name check would recognise. The names stay, so that the log still says what was passed.
 */
import type { Config } from './schema.js';

export const REDACTED = '[redacted]';

export function redactConfig(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.bootPullSecret !== undefined) copy.bootPullSecret = REDACTED;
  const spec = copy.bootWorkspace?.spec;
  if (spec !== undefined) {
    if (spec.bootstrap !== undefined) spec.bootstrap.script = REDACTED;
    if (spec.pullAuth !== undefined) spec.pullAuth.dockerConfigJson = REDACTED;
    if (spec.env !== undefined) spec.env = Object.fromEntries(Object.keys(spec.env).map((name) => [name, REDACTED]));
  }
  return copy;
}
