/**
 * Makes the workspace's image present per its pull policy and reports progress to the build log.
 * Registry credentials arrive with the image-pull issue; here images are pulled anonymously.
 */
import type { Engine, PullProgressEvent } from '../engine/types.js';
import type { EventLog } from './event-log.js';
import { WorkspaceFailure } from './failure.js';
import type { PullPolicy } from './spec.js';

export interface PresentImage {
  id: string;
  digest: string | null;
  /** Layer bytes this call downloaded (0 when the image was already present). */
  pulledBytes: number;
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

/** Sums per-layer progress into one figure; emits at most every `intervalMs`. */
export class PullProgress {
  private readonly layers = new Map<string, { current: number; total: number }>();
  private lastEmit = 0;

  constructor(
    private readonly emit: (done: number, total: number) => void,
    private readonly intervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  update(event: PullProgressEvent): void {
    if (event.layer && event.total) this.layers.set(event.layer, { current: event.current ?? 0, total: event.total });
    if (event.layer && /complete|already exists/i.test(event.status)) {
      const layer = this.layers.get(event.layer);
      if (layer) layer.current = layer.total;
    }
    if (this.now() - this.lastEmit >= this.intervalMs) this.flush();
  }

  flush(): void {
    this.lastEmit = this.now();
    this.emit(this.bytesDone(), this.bytesTotal());
  }

  bytesDone(): number {
    let done = 0;
    for (const layer of this.layers.values()) done += layer.current;
    return done;
  }

  private bytesTotal(): number {
    let total = 0;
    for (const layer of this.layers.values()) total += layer.total;
    return total;
  }
}

export async function ensureImage(
  engine: Engine,
  ref: string,
  policy: PullPolicy,
  forcePull: boolean,
  log: EventLog,
  signal: AbortSignal,
): Promise<PresentImage> {
  const fullRef = withDefaultTag(ref);
  let local = await engine.inspectImage(fullRef);
  let pulledBytes = 0;
  if (policy === 'never') {
    if (!local) throw new WorkspaceFailure('ImageNotFound', `${fullRef} is not present on the node and pullPolicy is never`);
  } else if (!local || policy === 'always' || forcePull) {
    log.append('pull', `pulling ${fullRef}`);
    const progress = new PullProgress((done, total) => log.append('pull', `${done}/${total} bytes`, { done, total }));
    await engine.pullImage(fullRef, { signal, onProgress: (e) => {
        progress.update(e);
      } });
    progress.flush();
    pulledBytes = progress.bytesDone();
    local = await engine.inspectImage(fullRef);
    if (!local) throw new WorkspaceFailure('ImageNotFound', `${fullRef} was pulled but the engine does not list it`);
    log.append('pull', `pulled ${fullRef}`, { imageId: local.id });
  }
  return { id: local.id, digest: digestFor(fullRef, local.repoDigests), pulledBytes };
}
