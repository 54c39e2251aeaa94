/**
 * Image references as the Docker CLI reads them (distribution/reference's grammar): an optional registry host
 * (with a port), a path of lower-case components, then `:tag`, `@digest` or both. Pure.
 */

export const DOCKER_HUB = 'docker.io';

export interface ImageReference {
  /** The registry host as credentials are matched: `docker.io` for Docker Hub, else `host[:port]` lower-cased. */
  registry: string;
  /** The repository path, e.g. `library/busybox` or `team/dev`. */
  repository: string;
  tag: string | null;
  digest: string | null;
  /**
   * How the engine is asked for it: `name@digest` when there is a digest (it wins over a tag, as with the Docker
   * CLI), else `name:tag`, with `latest` when no tag was given.
   */
  pullRef: string;
  /** The name the engine records in RepoDigests: as written, without tag and digest. */
  name: string;
}

export class InvalidReferenceError extends Error {
  constructor(
    readonly ref: string,
    why: string,
  ) {
    super(`${JSON.stringify(ref.length > 200 ? `${ref.slice(0, 200)}…` : ref)} is not a valid image reference: ${why}`);
    this.name = 'InvalidReferenceError';
  }
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const MAX_NAME_LENGTH = 255;

/** The first path component is a registry when it looks like a host: a dot, a port, or `localhost`. */
function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

export function parseImageReference(ref: string): ImageReference {
  if (ref === '') throw new InvalidReferenceError(ref, 'empty');
  if (ref !== ref.trim() || /\s/.test(ref)) throw new InvalidReferenceError(ref, 'contains white space');
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError(ref, `bad digest ${JSON.stringify(digest)}`);
    if (digest.startsWith('sha256:') && !/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new InvalidReferenceError(ref, 'a sha256 digest is 64 lower-case hex digits');
    }
  }
  let tag: string | null = null;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(ref, `bad tag ${JSON.stringify(tag)}`);
  }
  const name = rest;
  if (name.length > MAX_NAME_LENGTH) throw new InvalidReferenceError(ref, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  const components = name.split('/');
  const first = components[0] ?? '';
  const hasHost = components.length > 1 && isRegistryHost(first);
  if (hasHost && !DOMAIN.test(first)) throw new InvalidReferenceError(ref, `bad registry host ${JSON.stringify(first)}`);
  const path = hasHost ? components.slice(1) : components;
  for (const component of path) {
    if (!PATH_COMPONENT.test(component)) {
      throw new InvalidReferenceError(ref, `bad name component ${JSON.stringify(component)} (lower-case letters, digits and . _ -)`);
    }
  }
  const registry = hasHost ? normaliseRegistryHost(first) : DOCKER_HUB;
  const repository = registry === DOCKER_HUB && path.length === 1 ? `library/${path.join('/')}` : path.join('/');
  const pullRef = digest !== null ? `${name}@${digest}` : `${name}:${tag ?? 'latest'}`;
  return { registry, repository, tag, digest, pullRef, name };
}

/** Docker Hub's several spellings become `docker.io`; other hosts are lower-cased, ports kept. */
export function normaliseRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  if (lower === 'index.docker.io' || lower === 'registry-1.docker.io' || lower === 'registry.hub.docker.com') return DOCKER_HUB;
  return lower;
}

/** `name` → `name:latest`; a tag or digest is kept. Registry ports (`host:5000/name`) are not tags. */
export function withDefaultTag(ref: string): string {
  const lastSlash = ref.lastIndexOf('/');
  const last = ref.slice(lastSlash + 1);
  return last.includes(':') || last.includes('@') ? ref : `${ref}:latest`;
}

/** The RepoDigest of the repository the ref names, e.g. `registry/x@sha256:…` → `sha256:…`. */
export function digestFor(ref: string, repoDigests: string[]): string | null {
  const repo = withDefaultTag(ref).replace(/@.*$/, '').replace(/:[^:/]+$/, '');
  const match = repoDigests.find((d) => d.startsWith(`${repo}@`)) ?? repoDigests[0];
  return match ? (match.split('@')[1] ?? null) : null;
}

/** The digest to record for a workspace whose spec names `image`: the one it pinned, else the repository's. */
export function recordedDigest(image: string, repoDigests: string[]): string | null {
  let ref;
  try {
    ref = parseImageReference(image);
  } catch {
    return digestFor(image, repoDigests); // a spec stored before references were checked
  }
  return ref.digest ?? digestFor(ref.pullRef, repoDigests);
}
