/** Per-layer pull progress from the engine's stream, summed into one figure for the build log. */
import type { PullProgressEvent } from '../engine/types.js';

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
