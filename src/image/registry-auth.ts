/**
 * Registry credentials from a `.dockerconfigjson` (a Kubernetes pull secret, CODER_IMAGE_PULL_SECRET or a spec's
 * pullAuth), matched to an image's registry host. Pure. Keys are matched the way the Docker CLI writes them:
 * `https://index.docker.io/v1/`, `docker.io`, `registry:5000`, `https://registry:5000/v2/`; a key matches only
 * its own host and port, so one registry's credentials never go to another.
 */
import { DOCKER_HUB, normaliseRegistryHost } from './reference.js';

/** The engine's X-Registry-Auth payload for one registry. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress: string;
}

/** Parsed credentials by normalised registry host. */
export type RegistryCredentials = ReadonlyMap<string, RegistryAuth>;

export class InvalidDockerConfigError extends Error {
  constructor(why: string) {
    // Never quotes the text: it holds secrets.
    super(`not a .dockerconfigjson: ${why}`);
    this.name = 'InvalidDockerConfigError';
  }
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

/** `https://host:port/v1/` → `host:port`; Docker Hub's spellings → `docker.io`. */
export function registryHostOfKey(key: string): string {
  const withoutScheme = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  return normaliseRegistryHost(withoutScheme.split('/')[0] ?? '');
}

function stringField(entry: AuthEntry, field: keyof AuthEntry, key: string): string | undefined {
  const value = entry[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new InvalidDockerConfigError(`auths[${JSON.stringify(key)}].${field} is not a string`);
  return value;
}

function authOf(key: string, host: string, raw: unknown): RegistryAuth {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidDockerConfigError(`auths[${JSON.stringify(key)}] is not an object`);
  }
  const entry = raw as AuthEntry;
  const serveraddress = host === DOCKER_HUB ? 'https://index.docker.io/v1/' : host;
  const identitytoken = stringField(entry, 'identitytoken', key);
  if (identitytoken !== undefined) return { identitytoken, serveraddress };
  const encoded = stringField(entry, 'auth', key);
  if (encoded !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw new InvalidDockerConfigError(`auths[${JSON.stringify(key)}].auth is not base64`);
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new InvalidDockerConfigError(`auths[${JSON.stringify(key)}].auth is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress };
  }
  const username = stringField(entry, 'username', key);
  const password = stringField(entry, 'password', key);
  if (username !== undefined && password !== undefined) return { username, password, serveraddress };
  throw new InvalidDockerConfigError(`auths[${JSON.stringify(key)}] has none of auth, username and password, identitytoken`);
}

/** @throws InvalidDockerConfigError, whose message never contains the text. */
export function parseDockerConfigJson(text: string): RegistryCredentials {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InvalidDockerConfigError('not JSON');
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw new InvalidDockerConfigError('no "auths" object');
  const credentials = new Map<string, RegistryAuth>();
  for (const [key, raw] of Object.entries(auths)) {
    const host = registryHostOfKey(key);
    if (host === '') throw new InvalidDockerConfigError(`auths has a key without a host`);
    credentials.set(host, authOf(key, host, raw));
  }
  return credentials;
}

/** The first source with an entry for the registry wins (the spec's own pullAuth before the node's secret). */
export function credentialsFor(registry: string, ...sources: (RegistryCredentials | undefined)[]): RegistryAuth | undefined {
  const host = normaliseRegistryHost(registry);
  for (const source of sources) {
    const found = source?.get(host);
    if (found) return found;
  }
  return undefined;
}
