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
import { homedir } from 'node:os';
import path from 'node:path';
import { Value } from 'typebox/value';
import { readEnvbox } from './envbox.js';
import { FILE_KEYS, OPTION_KEYS, OPTIONS, type OptionKey, type OptionValues } from './options.js';
import { ConfigError, ConfigSchema, engineHostRootFor, type Config } from './schema.js';
import { BadValue, isLoopbackHost, shown } from './values.js';

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
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const key = BY_FLAG.get(name);
    if (key === undefined) throw new ConfigError(name, 'unknown flag (see --help)');
    const option = OPTIONS[key];
    let raw = eq === -1 ? argv[i + 1] : arg.slice(eq + 1);
    if (eq === -1) {
      if (raw === undefined || raw.startsWith('--')) throw new ConfigError(name, `missing value (${option.metavar})`);
      i++;
    }
    raw ??= '';
    const previous = layer.values[key];
    if (previous !== undefined && option.json !== 'list') throw new ConfigError(name, `given more than once (${shown(raw)} after an earlier value)`);
    if (key === 'allowedMountRoots' || key === 'blockApiFromBridges') {
      set(layer, key, [...(layer.values[key] ?? []), ...parseAs(key, raw, name)], name);
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
    // JSON.parse throws only SyntaxError.
    throw new ConfigError(pathLabel, `${shown(path)} is not valid JSON: ${(e as SyntaxError).message}`);
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
 * CODER_MOUNTS is checked against the allowed roots here, so that a daemon never starts ready without the boot
 * workspace it was given. Sources are normalised absolute paths (the spec's own check); declaring the workspace
 * resolves symlinks and refuses the forbidden paths.
 */
function checkBootMounts(mounts: readonly { source: string }[], roots: readonly string[]): void {
  for (const { source } of mounts) {
    if (roots.length === 0) throw new ConfigError('CODER_MOUNTS', `${shown(source)} is not allowed: this daemon allows no user mounts (--allowed-mount-root)`);
    const under = (root: string): boolean => root === '/' || source === root || source.startsWith(`${root}/`);
    if (!roots.some(under)) throw new ConfigError('CODER_MOUNTS', `${shown(source)} is not under an allowed mount root (${roots.join(', ')})`);
  }
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
  const dockerHost = value('dockerHost');
  const dockerTlsVerify = value('dockerTlsVerify');
  const insecurePlaintextEngine = value('insecurePlaintextEngine');
  if (engine === 'host' && plaintextToAnotherMachine(dockerHost, dockerTlsVerify) && !insecurePlaintextEngine) {
    throw new ConfigError(
      dockerHostGiven?.label ?? '--docker-host',
      `${shown(dockerHost)} is plain HTTP to another machine, which would carry registry credentials, bootstrap scripts and agent tokens in the clear: ` +
        'use TLS (--docker-tls-verify true or DOCKER_TLS_VERIFY=1, with ca.pem, cert.pem and key.pem in --docker-cert-path), or, knowingly, --insecure-plaintext-engine true',
    );
  }
  const hostRoot = value('hostRoot');
  const explicitEngineHostRoot = given('engineHostRoot')?.value;
  const engineHostRoot =
    engine === 'auto' ? explicitEngineHostRoot : engineHostRootFor({ hostRoot, ...(explicitEngineHostRoot !== undefined && { engineHostRoot: explicitEngineHostRoot }) }, engine);
  const api = value('api');
  const tokenFileGiven = given('tokenFile');
  if (api === 'probes-only' && tokenFileGiven !== undefined) {
    throw new ConfigError(tokenFileGiven.label, `is not used with ${given('api')?.label ?? '--api'} probes-only, which serves no /v1: give this pod no token`);
  }
  const tokenFile = tokenFileGiven?.value;
  const pullSecretFile = given('pullSecretFile')?.value;
  const instance = given('instance')?.value;
  const imageGcHighPercent = value('imageGcHighPercent');
  const imageGcLowPercent = value('imageGcLowPercent');
  if (imageGcLowPercent >= imageGcHighPercent) {
    const label = given('imageGcLowPercent')?.label ?? given('imageGcHighPercent')?.label ?? '--image-gc-low-percent';
    throw new ConfigError(label, `low ${imageGcLowPercent} is not below high ${imageGcHighPercent}; image GC needs low < high`);
  }
  const bootWorkspaceId = value('bootWorkspaceId');
  // Embedded mode's storage is the daemon's own, never the machine's /var/lib/docker.
  const stateDir = value('stateDir');
  const dataRoot = given('dataRoot')?.value ?? path.join(stateDir, 'engine');
  const sysboxDataRoot = given('sysboxDataRoot')?.value ?? path.join(stateDir, 'sysbox');
  const envbox = readEnvbox(env);
  const allowedMountRoots = given('allowedMountRoots')?.value ?? [];
  checkBootMounts(envbox.spec?.mounts ?? [], allowedMountRoots);
  const usrLibDir = given('usrLibDir')?.value ?? envbox.usrLibDir;

  const config: Config = {
    listen: value('listen'),
    api,
    ...(tokenFile !== undefined && { tokenFile }),
    engine,
    dockerHost,
    dockerTlsVerify,
    dockerCertPath: given('dockerCertPath')?.value ?? path.join(env['HOME'] || homedir(), '.docker'),
    insecurePlaintextEngine,
    runtime: value('runtime'),
    allowNonSysboxCvmRuntime: value('allowNonSysboxCvmRuntime'),
    network: value('network'),
    stateDir,
    ...(instance !== undefined && { instance }),
    hostRoot,
    ...(usrLibDir !== undefined && { usrLibDir }),
    ...(engineHostRoot !== undefined && { engineHostRoot }),
    allowedMountRoots,
    blockApiFromBridges: given('blockApiFromBridges')?.value ?? [],
    cvmEnabled: value('cvmEnabled'),
    gpusEnabled: value('gpusEnabled'),
    shutdownPolicy: value('shutdownPolicy'),
    imageFactsFrom: value('imageFactsFrom'),
    shutdownGrace: value('shutdownGrace'),
    bootTimeout: value('bootTimeout'),
    engineStartTimeout: value('engineStartTimeout'),
    enginePingInterval: value('enginePingInterval'),
    dataRoot,
    sysboxDataRoot,
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

/** A tcp:// or http:// engine URL without TLS whose host is not this machine. */
function plaintextToAnotherMachine(dockerHost: string, tlsVerify: boolean): boolean {
  const url = new URL(dockerHost);
  return (url.protocol === 'tcp:' || url.protocol === 'http:') && !tlsVerify && !isLoopbackHost(url.hostname);
}
