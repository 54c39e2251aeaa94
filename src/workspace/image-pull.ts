/**
 * Makes the workspace's image present per its pull policy and reports progress to the build log.
 * Credentials come from the spec's pullAuth, then the node's pull secret, matched by registry host.
 */
import type { Engine, PullProgressEvent } from '../engine/types.js';
import { InvalidReferenceError, parseImageReference } from '../image/reference.js';
import { credentialsFor, InvalidDockerConfigError, parseDockerConfigJson, type RegistryCredentials } from '../image/registry-auth.js';
import type { EventLog } from './event-log.js';
import type { ImagePuller } from './image-puller.js';
import { InvalidSpecError, WorkspaceFailure } from '../errors.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';

export interface PresentImage {
  id: string;
  /** As the engine reported them (see ImageDetails): image facts are read from them. */
  layerDirs?: string[];
  digest: string | null;
  /** Layer bytes this call downloaded (0 when the image was already present). */
  pulledBytes: number;
  /** Engine pull attempts (0 when the image was already present). */
  attempts: number;
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

const LAYER_STATUS = /^(pulling fs layer|waiting|downloading|verifying checksum|download complete|extracting|pull complete|already exists)/i;

/**
 * Sums per-layer download progress into one figure; emits at most every `intervalMs`. Only downloads count (the
 * engine's "Extracting" lines restart each layer's count), and a layer never goes backwards. The engine announces
 * every layer before downloading any; until each has a size a percentage would jump, so nothing is emitted before.
 */
export class PullProgress {
  private readonly layers = new Map<string, { current: number; total: number | null }>();
  private lastEmit = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly emit: (done: number, total: number) => void,
    private readonly intervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  update(event: PullProgressEvent): void {
    // Other lines carry an id too ("Pulling from x" carries the tag): only layer lines make a layer.
    if (event.layer === null || !LAYER_STATUS.test(event.status)) return;
    const layer = this.layers.get(event.layer) ?? { current: 0, total: null };
    this.layers.set(event.layer, layer);
    if (/^downloading/i.test(event.status) && event.total) {
      layer.total = event.total;
      layer.current = Math.max(layer.current, Math.min(event.current ?? 0, event.total));
    } else if (/complete|already exists|verifying checksum|extracting/i.test(event.status)) {
      layer.total ??= 0;
      layer.current = layer.total;
    }
    if (this.sized() && this.now() - this.lastEmit >= this.intervalMs) this.flush();
  }

  /** The final figure: everything announced is complete. */
  complete(): void {
    for (const layer of this.layers.values()) {
      layer.total ??= 0;
      layer.current = layer.total;
    }
    this.flush();
  }

  bytesDone(): number {
    let done = 0;
    for (const layer of this.layers.values()) done += layer.current;
    return done;
  }

  private flush(): void {
    this.lastEmit = this.now();
    let total = 0;
    for (const layer of this.layers.values()) total += layer.total ?? 0;
    this.emit(this.bytesDone(), total);
  }

  /** Every announced layer has a size, and one is more than nothing (layers that already exist count 0). */
  private sized(): boolean {
    let total = 0;
    for (const layer of this.layers.values()) {
      if (layer.total === null) return false;
      total += layer.total;
    }
    return total > 0;
  }
}

export interface ImageSource {
  engine: Engine;
  puller: ImagePuller;
  /** The node's pull secret (CODER_IMAGE_PULL_SECRET or --pull-secret-file), read afresh for each pull. */
  nodeCredentials: () => Promise<RegistryCredentials | undefined>;
}

/** Checked at PUT, before anything is stored: the reference's syntax and that pullAuth parses. */
export function checkPullFields(spec: Pick<WorkspaceSpec, 'image' | 'pullAuth'>): void {
  try {
    parseImageReference(spec.image);
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new InvalidSpecError('image', err.message);
    throw err;
  }
  if (spec.pullAuth) {
    try {
      parseDockerConfigJson(spec.pullAuth.dockerConfigJson);
    } catch (err) {
      if (err instanceof InvalidDockerConfigError) throw new InvalidSpecError('pullAuth.dockerConfigJson', err.message);
      throw err;
    }
  }
}

function percentOf(done: number, total: number): number {
  return total === 0 ? 100 : Math.floor((100 * done) / total);
}

export async function ensureImage(
  source: ImageSource,
  spec: Pick<WorkspaceSpec, 'image' | 'pullPolicy' | 'pullAuth'>,
  forcePull: boolean,
  log: EventLog,
  signal: AbortSignal,
): Promise<PresentImage> {
  const { engine } = source;
  const ref = parseImageReference(spec.image);
  const policy = spec.pullPolicy ?? 'if-not-present';
  let local = await engine.inspectImage(ref.pullRef);
  let pulledBytes = 0;
  let attempts = 0;
  if (policy === 'never') {
    if (!local) throw new WorkspaceFailure('ImageNotFound', `${ref.pullRef} is not present on the node and pullPolicy is never`);
  } else if (!local || policy === 'always' || forcePull) {
    const specCredentials = spec.pullAuth ? parseDockerConfigJson(spec.pullAuth.dockerConfigJson) : undefined;
    const auth = credentialsFor(ref.registry, specCredentials, await source.nodeCredentials());
    log.append('pull', `pulling ${ref.pullRef} ${auth ? `with the credentials for ${ref.registry}` : 'anonymously'}`);
    const progress = new PullProgress((done, total) => {
      const percent = percentOf(done, total);
      log.append('pull', `${done}/${total} bytes (${percent}%)`, { done, total, percent });
    });
    attempts = await source.puller.pull({
      ref: ref.pullRef,
      ...(auth ? { auth } : {}),
      signal,
      onEvent: (event) => {
        if (event.kind === 'progress') progress.update(event.progress);
        else if (event.kind === 'attempt') log.append('pull', `attempt ${event.attempt} of ${event.of}`, { attempt: event.attempt });
        else log.append('pull', `registry unreachable (${event.error}); retrying in ${event.delayMs} ms`, { attempt: event.attempt, delayMs: event.delayMs });
      },
    });
    progress.complete();
    pulledBytes = progress.bytesDone();
    local = await engine.inspectImage(ref.pullRef);
    if (!local) throw new WorkspaceFailure('ImageNotFound', `${ref.pullRef} was pulled but the engine does not list it`);
    log.append('pull', `pulled ${ref.pullRef}`, { imageId: local.id, attempts });
  }
  return {
    id: local.id,
    ...(local.layerDirs && { layerDirs: local.layerDirs }),
    digest: recordedDigest(spec.image, local.repoDigests),
    pulledBytes,
    attempts,
  };
}
