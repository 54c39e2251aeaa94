/**
 * The merged view of an image's overlay2 layers, computed the way the kernel's overlayfs would show it, from
 * lookups in the individual layer directories. Pure: the lookups are callbacks.
 *
 * What the engine's overlay2 driver leaves in a layer's `diff` directory (checked on dockerd 20.10):
 * - a deleted file or directory is a *whiteout*: a character device 0:0 with the same name;
 * - a directory that replaced a lower one (`rm -rf d && mkdir d`) is *opaque*: the xattr
 *   `trusted.overlay.opaque=y` (`user.` in rootless mode) hides everything below it in lower layers.
 * And overlayfs itself: a non-directory in an upper layer hides the whole subtree below it.
 */
import type { PathStat } from '../engine/types.js';
import { isDir } from './filemode.js';

/** What one layer directory holds at a path (never following a link). */
export interface LayerEntry {
  stat: PathStat;
  whiteout: boolean;
}

/** `layer` counts from the top (0) down; `path` is absolute, clean, without `.` or `..`. */
export type LayerLookup = (layer: number, path: string) => LayerEntry | undefined;
/** Whether a directory that exists in `layer` is opaque. Only asked about layers that have layers below. */
export type OpaqueCheck = (layer: number, dir: string) => boolean;

/** '/a/b/c' → ['/a', '/a/b']: the directories a lookup of the path passes through. */
function parentsOf(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '');
  return names.slice(0, -1).map((_, i) => '/' + names.slice(0, i + 1).join('/'));
}

/**
 * The merged lstat of `path` across `layerCount` layers: the entry and the layer it comes from, or undefined.
 * A layer's own entry for the path is only looked at once every parent in that layer is a real directory, so
 * the caller's per-layer lookup never runs through a symlink inside a layer directory.
 */
export function overlayLookup(path: string, layerCount: number, lookup: LayerLookup, isOpaque: OpaqueCheck): { layer: number; stat: PathStat } | undefined {
  if (path === '/') {
    const root = lookup(0, '/');
    return root === undefined ? undefined : { layer: 0, stat: root.stat };
  }
  const parents = parentsOf(path);
  for (let layer = 0; layer < layerCount; layer++) {
    const dirsHere: string[] = [];
    for (const dir of parents) {
      const entry = lookup(layer, dir);
      if (entry === undefined) break;
      // A whiteout or a non-directory on the way hides the path here and in every lower layer.
      if (entry.whiteout || !isDir(entry.stat.mode)) return undefined;
      dirsHere.push(dir);
    }
    if (dirsHere.length === parents.length) {
      const entry = lookup(layer, path);
      if (entry !== undefined) return entry.whiteout ? undefined : { layer, stat: entry.stat };
    }
    const isBottom = layer === layerCount - 1;
    if (isBottom || dirsHere.some((dir) => isOpaque(layer, dir))) return undefined;
  }
  return undefined;
}
