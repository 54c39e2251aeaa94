/**
 * Image garbage collection the way kubelet does it. Every workspace on the node shares the engine's image cache,
 * which fills the disk. When the disk holding the engine's images is fuller than the high threshold, the least
 * recently used workspace images that no container is made from are removed until the low threshold is reached.
 * Only images the daemon itself used for a workspace are candidates (other images on the engine are not its
 * business), and never one that a workspace's container or spec needs.
 */
import { mkdir, readFile, rename, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../atomic-write.js';
import type { EngineImages, ImageSummary } from '../engine/types.js';
import { parseImageReference } from './reference.js';

export interface DiskUsage {
  usedBytes: number;
  totalBytes: number;
}

export interface GcCandidate {
  id: string;
  sizeBytes: number;
  lastUsedMs: number;
}

export interface GcThresholds {
  highPercent: number;
  lowPercent: number;
}

/** Pure: the images to remove, least recently used first, to bring the disk from above high down to low. */
export function planImageGc(disk: DiskUsage, thresholds: GcThresholds, candidates: readonly GcCandidate[]): GcCandidate[] {
  if (disk.totalBytes <= 0 || (100 * disk.usedBytes) / disk.totalBytes < thresholds.highPercent) return [];
  let toFree = disk.usedBytes - (thresholds.lowPercent / 100) * disk.totalBytes;
  const chosen: GcCandidate[] = [];
  for (const candidate of [...candidates].sort((a, b) => a.lastUsedMs - b.lastUsedMs)) {
    if (toFree <= 0) break;
    chosen.push(candidate);
    toFree -= candidate.sizeBytes;
  }
  return chosen;
}

/** What a workspace needs: the image its container is made from, and the reference its spec names. */
export interface NeededImage {
  imageId: string | null;
  ref: string;
}

export interface ImageGcOptions extends GcThresholds {
  engine: EngineImages;
  /** Where last-use times persist, so a restarted daemon still knows its images. */
  stateDir: string;
  /** The directory holding the engine's images, as this daemon sees it. */
  diskPath: () => Promise<string>;
  needed: () => Iterable<NeededImage>;
  logger: Logger;
  onReclaimed?: (bytes: number, images: number) => void;
  /** The record of image use could not be read, was corrupt (and set aside), or could not be written. */
  onBookkeepingError?: (what: 'read' | 'corrupt' | 'write') => void;
  now?: () => number;
}

export interface GcResult {
  removed: string[];
  reclaimedBytes: number;
}

const USAGE_FILE = 'image-usage.json';

/** `{"sha256:...": lastUsedMs}`, or null when the text is not that. */
function parseUsage(text: string): Map<string, number> | null {
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
    const entries = Object.entries(doc as Record<string, unknown>);
    return entries.every(([, at]) => typeof at === 'number') ? new Map(entries as [string, number][]) : null;
  } catch {
    return null;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Does the image carry the reference (by tag, or by digest for a pinned reference)? */
function carries(image: ImageSummary, ref: string): boolean {
  try {
    const parsed = parseImageReference(ref);
    return image.repoTags.includes(parsed.pullRef) || image.repoDigests.includes(parsed.pullRef);
  } catch {
    return false;
  }
}

export class ImageGc {
  private lastUsed: Promise<Map<string, number>> | null = null;
  private saving: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly options: ImageGcOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A workspace was made from (or adopted with) this image. Never rejects: GC's bookkeeping must not fail a
   * workspace (a full disk is exactly when it fails), so a failed write is logged and counted, and the record
   * in memory is written by the next save that succeeds.
   */
  async recordUse(imageId: string): Promise<void> {
    const usage = await this.usage();
    usage.set(imageId, this.now());
    await this.save(usage);
  }

  /** One collection: measure the disk, and remove what the plan picks. */
  async run(): Promise<GcResult> {
    const { engine, logger } = this.options;
    const usage = await this.usage();
    const [images, inUse, disk] = await Promise.all([engine.listImages(), engine.imagesInUse(), this.disk()]);
    const needed = [...this.options.needed()];
    const protectedIds = new Set(inUse);
    for (const { imageId } of needed) if (imageId !== null) protectedIds.add(imageId);
    for (const image of images) if (needed.some((n) => carries(image, n.ref))) protectedIds.add(image.id);
    // Like kubelet: an image in use counts as used now, so "least recently used" means least recently in use.
    for (const id of protectedIds) if (usage.has(id)) usage.set(id, this.now());
    const candidates = images
      .filter((image) => usage.has(image.id) && !protectedIds.has(image.id))
      .map((image) => ({ id: image.id, sizeBytes: image.sizeBytes, lastUsedMs: usage.get(image.id) ?? 0 }));
    const result: GcResult = { removed: [], reclaimedBytes: 0 };
    for (const image of planImageGc(disk, this.options, candidates)) {
      try {
        await engine.removeImage(image.id);
      } catch (err) {
        // A container made from it since the listing: it is in use, which is fine.
        logger.warn({ image: image.id, err: err instanceof Error ? err.message : String(err) }, 'image gc could not remove an image');
        continue;
      }
      usage.delete(image.id);
      result.removed.push(image.id);
      result.reclaimedBytes += image.sizeBytes;
    }
    for (const id of usage.keys()) if (!images.some((image) => image.id === id)) usage.delete(id);
    await this.save(usage);
    if (result.removed.length > 0) {
      this.options.onReclaimed?.(result.reclaimedBytes, result.removed.length);
      logger.info({ images: result.removed.length, bytes: result.reclaimedBytes, usedPercent: Math.round((100 * disk.usedBytes) / disk.totalBytes) }, 'image gc removed unused workspace images');
    }
    return result;
  }

  /** Runs every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.run().catch((err: unknown) => {
        this.options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'image gc failed');
      });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async disk(): Promise<DiskUsage> {
    const stats = await statfs(await this.options.diskPath());
    return { totalBytes: stats.blocks * stats.bsize, usedBytes: (stats.blocks - stats.bfree) * stats.bsize };
  }

  private usage(): Promise<Map<string, number>> {
    this.lastUsed ??= this.load();
    return this.lastUsed;
  }

  /** The record of image use as the last run left it; empty when there is none or it cannot be read. */
  private async load(): Promise<Map<string, number>> {
    const { logger, onBookkeepingError } = this.options;
    const file = join(this.options.stateDir, USAGE_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      logger.error({ err: describe(err) }, 'image GC could not read its record of image use; it starts afresh, so older images are not collected');
      onBookkeepingError?.('read');
      return new Map();
    }
    const parsed = parseUsage(text);
    if (parsed) return parsed;
    // Set aside, not deleted: it may help to find out what wrote it.
    const aside = `${file}.corrupt-${this.now()}`;
    await rename(file, aside).catch(() => undefined);
    logger.error({ file, setAside: aside }, 'image GC found its record of image use corrupt and set it aside; it starts afresh');
    onBookkeepingError?.('corrupt');
    return new Map();
  }

  /** Atomic; writes are serialised, and one that fails neither rejects nor blocks the next. */
  private save(usage: Map<string, number>): Promise<void> {
    this.saving = this.saving.then(async () => {
      try {
        await mkdir(this.options.stateDir, { recursive: true });
        await writeFileAtomic(join(this.options.stateDir, USAGE_FILE), JSON.stringify(Object.fromEntries(usage)));
      } catch (err) {
        this.options.logger.error({ err: describe(err) }, 'image GC could not save its record of image use; workspaces are not affected');
        this.options.onBookkeepingError?.('write');
      }
    });
    return this.saving;
  }
}
