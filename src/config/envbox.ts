/**
 * envbox's CODER_* variables, so that a pod that ran envbox can switch over. When CODER_INNER_IMAGE is set they
 * declare one workspace at boot. Unlike envbox, a value that does not parse is an error, never a silent default.
 *
 * Decisions (also in --help):
 * - Booleans are strictly `true` or `false`. An empty variable counts as unset.
 * - CODER_MOUNTS is `SRC:DST[:ro|rw]`, comma-separated; any other option is an error.
 * - CODER_MEMORY is bytes, or a number with a Kubernetes suffix: k M G T (powers of 1000), Ki Mi Gi Ti (1024).
 *   Lowercase m and g are refused: `m` means milli in Kubernetes and mebi in Docker.
 * - CODER_INNER_ENVS copies names and PREFIX* patterns (`*` alone copies all) from the daemon's environment, but
 *   never a variable that configures envbox or the daemon (the table below, CODER_INNER_*, CVM_*, DOCKER_HOST).
 *   CODER_AGENT_TOKEN always goes in as itself.
 * - CODER_IMAGE_PULL_SECRET is read even without CODER_INNER_IMAGE: it is the node's pull secret.
 * - CODER_USR_LIB_DIR is where the host's /usr/lib is mounted (GPU libraries), like --usr-lib-dir, which wins.
 * - CODER_DOCKER_BRIDGE_CIDR, CODER_DISABLE_IDMAPPED_MOUNT and CODER_EXTRA_CERTS_PATH are not used: they concern
 *   envbox's own dockerd.
 */
import { InvalidSpecError } from '../errors.js';
import { type MountSpec, parseWorkspaceSpec, type WorkspaceSpec } from '../spec/workspace-spec.js';
import { ConfigError } from './schema.js';
import { BadValue, parseAbsolutePath, parseBoolean, shown, splitList } from './values.js';

interface EnvboxVariable {
  readonly name: string;
  readonly help: string;
  readonly secret?: true;
  /** What a spec error at the field behind this variable means, said for a person. */
  readonly allowed?: string;
}

export const ENVBOX_VARIABLES: readonly EnvboxVariable[] = [
  { name: 'CODER_INNER_IMAGE', help: 'image; when set, a workspace is declared at boot', allowed: 'must be 1-1024 characters' },
  { name: 'CODER_INNER_USERNAME', help: 'username', allowed: 'is not a POSIX user name (a-z or _, then a-z, 0-9, _ or -; at most 32)' },
  { name: 'CODER_INNER_HOSTNAME', help: 'hostname', allowed: 'is not an RFC 1123 host name' },
  { name: 'CODER_INNER_WORK_DIR', help: 'workdir', allowed: 'is not a normalised absolute path' },
  { name: 'CODER_INNER_ENVS', help: 'NAME,PREFIX*,... copied from this environment into env' },
  { name: 'CODER_MOUNTS', help: 'SRC:DST[:ro|rw],... bind mounts' },
  { name: 'CODER_ADD_FUSE', help: 'true|false: devices.fuse' },
  { name: 'CODER_ADD_TUN', help: 'true|false: devices.tun' },
  { name: 'CODER_ADD_GPU', help: 'true|false: gpus.enabled' },
  { name: 'CODER_CPUS', help: 'CPUs (a positive number): resources.cpus', allowed: 'is more than 1024 CPUs' },
  { name: 'CODER_MEMORY', help: 'bytes, or with k M G T / Ki Mi Gi Ti: resources.memoryBytes', allowed: 'is below the minimum of 6Mi (6291456 bytes)' },
  { name: 'CODER_BOOTSTRAP_SCRIPT', help: 'bootstrap.script (a secret)', secret: true, allowed: 'must be at most 1 MiB' },
  { name: 'CODER_AGENT_TOKEN', help: 'env CODER_AGENT_TOKEN in the workspace (a secret)', secret: true, allowed: 'must be one line without NUL' },
  { name: 'CODER_IMAGE_PULL_SECRET', help: '.dockerconfigjson text used for pulls (a secret)', secret: true },
  { name: 'CODER_USR_LIB_DIR', help: "where the host's /usr/lib is mounted (GPU libraries); --usr-lib-dir wins" },
  { name: 'CODER_DOCKER_BRIDGE_CIDR', help: 'ignored' },
  { name: 'CODER_DISABLE_IDMAPPED_MOUNT', help: 'ignored' },
  { name: 'CODER_EXTRA_CERTS_PATH', help: 'ignored' },
];

/** Where a spec field came from, by the field's path in InvalidSpecError (`mounts[0].source` or `mounts.0.source`). */
const SPEC_FIELD_VARIABLES: readonly (readonly [RegExp, string])[] = [
  [/^image/, 'CODER_INNER_IMAGE'],
  [/^username/, 'CODER_INNER_USERNAME'],
  [/^hostname/, 'CODER_INNER_HOSTNAME'],
  [/^workdir/, 'CODER_INNER_WORK_DIR'],
  [/^env\.CODER_AGENT_TOKEN$/, 'CODER_AGENT_TOKEN'],
  [/^env/, 'CODER_INNER_ENVS'],
  [/^mounts/, 'CODER_MOUNTS'],
  [/^devices\.fuse/, 'CODER_ADD_FUSE'],
  [/^devices\.tun/, 'CODER_ADD_TUN'],
  [/^gpus/, 'CODER_ADD_GPU'],
  [/^resources\.cpus/, 'CODER_CPUS'],
  [/^resources\.memoryBytes/, 'CODER_MEMORY'],
  [/^bootstrap/, 'CODER_BOOTSTRAP_SCRIPT'],
];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function isControlVariable(name: string): boolean {
  return (
    ENVBOX_VARIABLES.some((v) => v.name === name) || name.startsWith('CODER_INNER_') || name.startsWith('CVM_') || name === 'DOCKER_HOST'
  );
}

/** Reads a variable; empty counts as unset (manifests often template empty values). */
function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function parsed<T>(env: NodeJS.ProcessEnv, name: string, parse: (raw: string) => T): T | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof BadValue) throw new ConfigError(name, `${shown(raw)} ${e.predicate}`);
    throw e;
  }
}

function parseCpus(raw: string): number {
  const cpus = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : 0;
  if (!(cpus > 0)) throw new BadValue('is not a positive number of CPUs (such as 2 or 0.5)');
  return cpus;
}

const MEMORY_UNITS: Readonly<Record<string, bigint>> = {
  '': 1n, k: 1000n, M: 1000n ** 2n, G: 1000n ** 3n, T: 1000n ** 4n, Ki: 1024n, Mi: 1024n ** 2n, Gi: 1024n ** 3n, Ti: 1024n ** 4n,
};

/** Bytes, exactly: `1.5Gi` is 1610612736, and `0.3Ki` (307.2 bytes) is refused. */
export function parseMemory(raw: string): number {
  const m = /^(\d+)(?:\.(\d+))?(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(raw);
  const [, whole = '', fraction = '', unit = ''] = m ?? [];
  const multiplier = MEMORY_UNITS[unit];
  if (m === null || multiplier === undefined) {
    throw new BadValue('is not a byte count: an integer, or a number with k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024)');
  }
  const scale = 10n ** BigInt(fraction.length);
  const scaled = (BigInt(whole) * scale + BigInt(fraction)) * multiplier; // BigInt('') is 0n
  if (scaled % scale !== 0n) throw new BadValue('is not a whole number of bytes');
  const bytes = scaled / scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadValue('is too large');
  return Number(bytes);
}

/** `SRC:DST[:ro|rw]`, comma-separated. Mounts are read-write unless `ro`. */
export function parseMounts(raw: string): MountSpec[] {
  return splitList(raw).map((entry) => {
    const [source = '', target = '', option, ...rest] = entry.split(':');
    if (source === '' || target === '' || rest.length > 0) throw new BadValue(`has the entry ${shown(entry)}, which is not SRC:DST[:ro|rw]`);
    if (option !== undefined && option !== 'ro' && option !== 'rw') {
      throw new BadValue(`has the entry ${shown(entry)} with the unknown option ${shown(option)} (allowed: ro, rw)`);
    }
    for (const path of [source, target]) {
      if (!path.startsWith('/')) throw new BadValue(`has the entry ${shown(entry)}, whose ${shown(path)} is not an absolute path`);
    }
    return option === 'ro' ? { source, target, readOnly: true } : { source, target };
  });
}

/** Names and PREFIX* patterns; `*` alone matches every name. */
function parseEnvPatterns(raw: string): ((name: string) => boolean)[] {
  return splitList(raw).map((item) => {
    if (!/^([A-Za-z_][A-Za-z0-9_]*\*?|\*)$/.test(item)) throw new BadValue(`has ${shown(item)}, which is not a variable name or a PREFIX* pattern`);
    const prefix = item.slice(0, -1);
    return item.endsWith('*') ? (name) => name.startsWith(prefix) : (name) => name === item;
  });
}

function copiedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const patterns = parsed(env, 'CODER_INNER_ENVS', parseEnvPatterns) ?? [];
  const copied: Record<string, string> = {};
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined || isControlVariable(name) || !patterns.some((matches) => matches(name))) continue;
    if (!ENV_NAME.test(name)) throw new ConfigError('CODER_INNER_ENVS', `matches ${shown(name)}, which is not a valid variable name for a workspace`);
    if (/[\n\0]/.test(value)) throw new ConfigError('CODER_INNER_ENVS', `matches ${name}, whose value (redacted) contains a newline or NUL`);
    copied[name] = value;
  }
  const token = read(env, 'CODER_AGENT_TOKEN');
  if (token !== undefined) copied.CODER_AGENT_TOKEN = token;
  return copied;
}

/** Checks the pull secret's shape without ever quoting it. */
function pullSecret(env: NodeJS.ProcessEnv): string | undefined {
  const raw = read(env, 'CODER_IMAGE_PULL_SECRET');
  if (raw === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new ConfigError('CODER_IMAGE_PULL_SECRET', '(redacted) is not JSON; expected a .dockerconfigjson with an "auths" object');
  }
  // A primitive has no `auths` either, so only null needs care.
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
    throw new ConfigError('CODER_IMAGE_PULL_SECRET', '(redacted) has no "auths" object; expected a .dockerconfigjson');
  }
  return raw;
}

function specFromEnv(env: NodeJS.ProcessEnv, image: string): WorkspaceSpec {
  const spec: Record<string, unknown> = { image };
  const username = read(env, 'CODER_INNER_USERNAME');
  const hostname = read(env, 'CODER_INNER_HOSTNAME');
  const workdir = read(env, 'CODER_INNER_WORK_DIR');
  const script = read(env, 'CODER_BOOTSTRAP_SCRIPT');
  if (username !== undefined) spec.username = username;
  if (hostname !== undefined) spec.hostname = hostname;
  if (workdir !== undefined) spec.workdir = workdir;
  const copied = copiedEnv(env);
  if (Object.keys(copied).length > 0) spec.env = copied;
  const mounts = parsed(env, 'CODER_MOUNTS', parseMounts);
  if (mounts !== undefined && mounts.length > 0) spec.mounts = mounts;
  const fuse = parsed(env, 'CODER_ADD_FUSE', parseBoolean);
  const tun = parsed(env, 'CODER_ADD_TUN', parseBoolean);
  if (fuse !== undefined || tun !== undefined) spec.devices = { ...(fuse !== undefined && { fuse }), ...(tun !== undefined && { tun }) };
  const gpu = parsed(env, 'CODER_ADD_GPU', parseBoolean);
  if (gpu !== undefined) spec.gpus = { enabled: gpu };
  const cpus = parsed(env, 'CODER_CPUS', parseCpus);
  const memoryBytes = parsed(env, 'CODER_MEMORY', parseMemory);
  if (cpus !== undefined || memoryBytes !== undefined) {
    spec.resources = { ...(cpus !== undefined && { cpus }), ...(memoryBytes !== undefined && { memoryBytes }) };
  }
  if (script !== undefined) spec.bootstrap = { script };
  try {
    return parseWorkspaceSpec(spec);
  } catch (e) {
    if (e instanceof InvalidSpecError) throw specErrorAsConfigError(e, env);
    throw e;
  }
}

/** Names the variable behind the failing field; a secret's value is never quoted. */
function specErrorAsConfigError(error: InvalidSpecError, env: NodeJS.ProcessEnv): ConfigError {
  const name = SPEC_FIELD_VARIABLES.find(([pattern]) => pattern.test(error.path))?.[1];
  const variable = ENVBOX_VARIABLES.find((v) => v.name === name);
  if (name === undefined || variable === undefined) return new ConfigError('CODER_* variables', `the boot workspace is invalid: ${error.message}`);
  if (variable.secret) return new ConfigError(name, `(redacted) ${variable.allowed ?? 'is invalid'}`);
  const detail = variable.allowed ?? `is invalid: ${error.message}`;
  return new ConfigError(name, `${shown(env[name])} ${detail}`);
}

export interface EnvboxBoot {
  /** Present when CODER_INNER_IMAGE is set. */
  readonly spec?: WorkspaceSpec;
  /** Raw CODER_IMAGE_PULL_SECRET text, checked to hold an `auths` object. */
  readonly pullSecret?: string;
  /** CODER_USR_LIB_DIR: where the daemon reads the host's /usr/lib. */
  readonly usrLibDir?: string;
}

export function readEnvbox(env: NodeJS.ProcessEnv): EnvboxBoot {
  const secret = pullSecret(env);
  const image = read(env, 'CODER_INNER_IMAGE');
  const spec = image === undefined ? undefined : specFromEnv(env, image);
  const usrLibDir = parsed(env, 'CODER_USR_LIB_DIR', parseAbsolutePath);
  return {
    ...(spec !== undefined && { spec }),
    ...(secret !== undefined && { pullSecret: secret }),
    ...(usrLibDir !== undefined && { usrLibDir }),
  };
}
