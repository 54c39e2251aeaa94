/**
 * Makes the workspace's image present per its pull policy and reports progress to the build log.
 * Credentials come from the spec's pullAuth, then the node's pull secret, matched by registry host.
 */
import type { EngineImages } from '../engine/types.js';
import { InvalidSpecError, WorkspaceFailure } from '../errors.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';
import type { ImagePuller } from './image-puller.js';
import { PullProgress } from './pull-progress.js';
import { InvalidReferenceError, parseImageReference, recordedDigest } from './reference.js';
import { credentialsFor, InvalidDockerConfigError, parseDockerConfigJson, type RegistryCredentials } from './registry-auth.js';

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

/** Where a pull reports: the workspace's build log (lifecycle/event-log.ts), whose `pull` entries these are. */
export interface PullLog {
  append(kind: 'pull', message: string, data?: Record<string, unknown>): unknown;
}

export interface ImageSource {
  engine: EngineImages;
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
  log: PullLog,
  signal: AbortSignal,
): Promise<PresentImage> {
  const { engine } = source;
  const ref = parseImageReference(spec.image);
  const policy = spec.pullPolicy ?? 'if-not-present';
  let local = await engine.inspectImage(ref.pullRef);
  let pulledBytes = 0;
  let attempts = 0;
  if (policy === 'never') {
    if (!local) throw new WorkspaceFailure('ImageNotFound', `${ref.pullRef} is not present in the engine and pullPolicy is never`);
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
