/**
 * Chooses how an image's facts are learned: from its layer directories when the daemon can read them (a few
 * milliseconds, nothing written to the engine), else through an inspection container (inspection-container.ts). Both give the
 * same facts (test/integration/detect-layers.test.ts compares them on every test image). The facts are cached per
 * image ID.
 */
import type { ImageDetails } from '../engine/types.js';
import type { ImageFacts } from './facts.js';
import { detectImageFacts, type InspectionEngine } from './inspection-container.js';
import { detectFromLayers, LayerAccessError, type OpaqueReader } from './layers.js';

/** An image to learn the facts of: its ID (sha256:..., the cache key) and, when the engine reported them, its layers. */
export type ImageToDetect = Pick<ImageDetails, 'id' | 'layerDirs'>;

export interface LayerAccess {
  /** The daemon's path for a directory the engine names; null when the daemon cannot see it. */
  daemonPathOf(engineDir: string): string | null;
  readOpaque: OpaqueReader;
}

export interface FactsDetectorOptions {
  /** The inspection containers' owner label (see inspection-container.ts). */
  owner: string;
  /** Absent: always use an inspection container. */
  layers?: LayerAccess;
  /** Told why the layers could not be read for an image (once per image: the facts are cached per image ID). */
  onInspectionFallback?: (imageId: string, reason: string) => void;
}

/** The facts, or why the layer directories cannot give them. */
async function factsFromLayers(access: LayerAccess, image: ImageToDetect): Promise<ImageFacts | string> {
  if (image.layerDirs === undefined) return "the engine's storage driver does not report overlay2 layer directories";
  const dirs: string[] = [];
  for (const dir of image.layerDirs) {
    const daemonDir = access.daemonPathOf(dir);
    if (daemonDir === null) return `the layer directory ${dir} lies outside the host root the daemon sees`;
    dirs.push(daemonDir);
  }
  try {
    return await detectFromLayers(image.id, dirs, access.readOpaque);
  } catch (error) {
    if (error instanceof LayerAccessError) return error.message;
    throw error;
  }
}

export function createFactsDetector(engine: InspectionEngine, options: FactsDetectorOptions): (image: ImageToDetect) => Promise<ImageFacts> {
  return async (image) => {
    if (options.layers !== undefined) {
      const facts = await factsFromLayers(options.layers, image);
      if (typeof facts !== 'string') return facts;
      options.onInspectionFallback?.(image.id, facts);
    }
    return detectImageFacts(engine, image.id, options.owner);
  };
}

/**
 * Facts per image ID: a second workspace on the same image pays nothing, and concurrent requests for one image
 * share one detection. A failed detection is not cached, so the next request tries again.
 */
export class ImageFactsCache {
  private readonly entries = new Map<string, Promise<ImageFacts>>();

  constructor(private readonly detect: (image: ImageToDetect) => Promise<ImageFacts>) {}

  get(image: ImageToDetect): Promise<ImageFacts> {
    const imageId = image.id;
    const cached = this.entries.get(imageId);
    if (cached !== undefined) return cached;
    const detection = this.detect(image);
    this.entries.set(imageId, detection);
    detection.catch(() => {
      if (this.entries.get(imageId) === detection) this.entries.delete(imageId);
    });
    return detection;
  }
}
