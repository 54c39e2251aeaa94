/**
 * Builds the Config from flags, environment and an optional JSON file. Precedence per field: flag > env > file >
 * default. A list (allowed mount roots) from a higher source replaces a lower one's; repeated flags add up.
 *
 * Rules a user sees, also in --help:
 * - `--name value` and `--name=value`; booleans take a value (`true` or `false`, nothing else).
 * - A flag given twice (other than a repeatable one), an unknown flag or a stray argument is an error.
 * - An empty environment variable counts as unset.
 * - The file's keys are the camelCase names of the flags (FILE_KEYS); values are JSON-typed: booleans as
 *   booleans, --shutdown-grace as a number, allowedMountRoots as an array of strings. Unknown keys are errors.
 */
import { readFileSync } from 'node:fs';
import { Value } from 'typebox/value';
import { readEnvbox } from './envbox.js';
import { FILE_KEYS, OPTION_KEYS, OPTIONS, type OptionKey, type OptionValues } from './options.js';
import { ConfigError, ConfigSchema, engineHostRootFor, type Config } from './schema.js';
import { BadValue, shown } from './values.js';

/** Values from one source, each with the field's name as the user wrote it (for error messages). */
interface Layer {
  values: Partial<OptionValues>;
  labels: Partial<Record<OptionKey, string>>;
}

const emptyLayer = (): Layer => ({ values: {}, labels: {} });

function parseAs<K extends OptionKey>(key: K, raw: string, label: string): OptionValues[K] {
  const parse = OPTIONS[key].parse as (raw: string) => OptionValues[K];
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof BadValue) throw new ConfigError(label, `${shown(raw)} ${e.predicate}`);
    throw e;
  }
}

function set<K extends OptionKey>(layer: Layer, key: K, value: OptionValues[K], label: string): void {
  layer.values[key] = value;
  layer.labels[key] = label;
}

const BY_FLAG = new Map(OPTION_KEYS.map((key) => [OPTIONS[key].flag as string, key]));

function flagLayer(argv: readonly string[]): Layer {
  const layer = emptyLayer();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new ConfigError(shown(arg), 'unexpected argument; flags are --name VALUE or --name=VALUE (see --help)');
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const key = BY_FLAG.get(name);
    if (key === undefined) throw new ConfigError(name, 'unknown flag (see --help)');
    const option = OPTIONS[key];
    let raw = eq < 0 ? argv[i + 1] : arg.slice(eq + 1);
    if (eq < 0) {
      if (raw === undefined || raw.startsWith('--')) throw new ConfigError(name, `missing value (${option.metavar})`);
      i++;
    }
    raw ??= '';
    const previous = layer.values[key];
    if (previous !== undefined && option.json !== 'list') throw new ConfigError(name, `given more than once (${shown(raw)} after an earlier value)`);
    if (key === 'allowedMountRoots') {
      set(layer, key, [...(layer.values.allowedMountRoots ?? []), ...parseAs(key, raw, name)], name);
    } else {
      set(layer, key, parseAs(key, raw, name), name);
    }
  }
  return layer;
}

function envLayer(env: NodeJS.ProcessEnv): Layer {
  const layer = emptyLayer();
  for (const key of OPTION_KEYS) {
    const name = OPTIONS[key].env;
    const raw = env[name];
    if (raw !== undefined && raw !== '') set(layer, key, parseAs(key, raw, name), name);
  }
  return layer;
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

function fileLayer(path: string, pathLabel: string, readFile: (path: string) => string): Layer {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new ConfigError(pathLabel, `cannot read ${shown(path)}: ${reason}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(pathLabel, `${shown(path)} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError(pathLabel, `${shown(path)} does not hold a JSON object`);
  const layer = emptyLayer();
  for (const [name, value] of Object.entries(doc)) {
    const key = FILE_KEYS.find((k) => k === name);
    const label = `${path}: ${name}`;
    if (key === undefined) throw new ConfigError(label, `unknown key (allowed: ${FILE_KEYS.join(', ')})`);
    set(layer, key, fileValue(key, value, label), label);
  }
  return layer;
}

/** JSON values are typed as written: no coercion from "false" to false. Then they pass the flag's own checks. */
function fileValue<K extends OptionKey>(key: K, value: unknown, label: string): OptionValues[K] {
  const kind = OPTIONS[key].json;
  const expected = { string: 'a string', boolean: 'a JSON boolean (true or false)', number: 'a JSON number', list: 'an array of strings' }[kind];
  const typeOk =
    kind === 'list' ? Array.isArray(value) && value.every((item) => typeof item === 'string') : typeof value === kind;
  if (!typeOk) throw new ConfigError(label, `${shown(value)} is not ${expected}`);
  if (kind === 'list') {
    return (value as string[]).flatMap((item) => parseAs(key, item, label) as string[]) as OptionValues[K];
  }
  return parseAs(key, String(value), label);
}

/**
 * @param argv the flags after the subcommand (`serve`), without --help or --version.
 * @param readFile reads the --config file; tests pass their own.
 * @throws ConfigError with a one-line message naming the field, the value and what is allowed.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, readFile: (path: string) => string = defaultReadFile): Config {
  const flags = flagLayer(argv);
  const fromEnv = envLayer(env);
  const configFile = flags.values.config ?? fromEnv.values.config;
  const configLabel = flags.labels.config ?? fromEnv.labels.config ?? '--config';
  const file = configFile === undefined ? emptyLayer() : fileLayer(configFile, configLabel, readFile);
  const layers = [flags, fromEnv, file];

  const given = <K extends OptionKey>(key: K): { value: OptionValues[K]; label: string } | undefined => {
    for (const layer of layers) {
      const value = layer.values[key];
      if (value !== undefined) return { value, label: layer.labels[key] ?? OPTIONS[key].flag };
    }
    return undefined;
  };
  const value = <K extends OptionKey>(key: K): OptionValues[K] => {
    const found = given(key);
    if (found !== undefined) return found.value;
    const fallback = OPTIONS[key].default;
    if (fallback === undefined) throw new Error(`config option ${key} has no default`);
    return parseAs(key, fallback, `default of ${OPTIONS[key].flag}`);
  };

  const engineGiven = given('engine');
  const dockerHostGiven = given('dockerHost');
  let engine = value('engine');
  if (dockerHostGiven !== undefined) {
    if (engine === 'embedded') {
      throw new ConfigError(
        dockerHostGiven.label,
        `${shown(dockerHostGiven.value)} cannot be used with ${engineGiven?.label ?? '--engine'} embedded, whose engine listens on RUN-DIR/docker.sock`,
      );
    }
    engine = 'host';
  }
  const hostRoot = value('hostRoot');
  const explicitEngineHostRoot = given('engineHostRoot')?.value;
  const engineHostRoot =
    engine === 'auto' ? explicitEngineHostRoot : engineHostRootFor({ hostRoot, ...(explicitEngineHostRoot !== undefined && { engineHostRoot: explicitEngineHostRoot }) }, engine);
  const tokenFile = given('tokenFile')?.value;
  const pullSecretFile = given('pullSecretFile')?.value;
  const imageGcHighPercent = value('imageGcHighPercent');
  const imageGcLowPercent = value('imageGcLowPercent');
  if (imageGcLowPercent >= imageGcHighPercent) {
    const label = given('imageGcLowPercent')?.label ?? given('imageGcHighPercent')?.label ?? '--image-gc-low-percent';
    throw new ConfigError(label, `low ${imageGcLowPercent} is not below high ${imageGcHighPercent}; image GC needs low < high`);
  }
  const bootWorkspaceId = value('bootWorkspaceId');
  const envbox = readEnvbox(env);
  const usrLibDir = given('usrLibDir')?.value ?? envbox.usrLibDir;

  const config: Config = {
    listen: value('listen'),
    ...(tokenFile !== undefined && { tokenFile }),
    engine,
    dockerHost: value('dockerHost'),
    runtime: value('runtime'),
    network: value('network'),
    stateDir: value('stateDir'),
    hostRoot,
    ...(usrLibDir !== undefined && { usrLibDir }),
    ...(engineHostRoot !== undefined && { engineHostRoot }),
    allowedMountRoots: given('allowedMountRoots')?.value ?? [],
    cvmEnabled: value('cvmEnabled'),
    gpusEnabled: value('gpusEnabled'),
    shutdownPolicy: value('shutdownPolicy'),
    imageFactsFrom: value('imageFactsFrom'),
    shutdownGrace: value('shutdownGrace'),
    bootTimeout: value('bootTimeout'),
    engineStartTimeout: value('engineStartTimeout'),
    enginePingInterval: value('enginePingInterval'),
    dataRoot: value('dataRoot'),
    runDir: value('runDir'),
    logLevel: value('logLevel'),
    ...(configFile !== undefined && { configFile }),
    ...(envbox.spec !== undefined && { bootWorkspace: { id: bootWorkspaceId, spec: envbox.spec } }),
    ...(envbox.pullSecret !== undefined && { bootPullSecret: envbox.pullSecret }),
    imageGcHighPercent,
    imageGcLowPercent,
    ...(pullSecretFile !== undefined && { pullSecretFile }),
  };
  // Every field was checked on the way in; this guards the assembly itself against drifting from the schema.
  if (!Value.Check(ConfigSchema, config)) throw new Error('loadConfig built a Config that does not match ConfigSchema');
  return config;
}
