/**
 * The merged view of overlay2 layers from in-memory layers: each layer maps a path to 'dir', 'file', 'link',
 * 'whiteout' or 'opaque-dir'. The same rules run against real layers in test/integration/detect-layers.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ModeDir, ModeSymlink } from '../../../src/image/filemode.js';
import { type LayerEntry, overlayLookup } from '../../../src/image/overlay.js';

type Kind = 'dir' | 'file' | 'link' | 'whiteout' | 'opaque-dir';
type Layer = Record<string, Kind>;

function entryOf(kind: Kind, layer: number): LayerEntry {
  const mode = { dir: ModeDir + 0o755, 'opaque-dir': ModeDir + 0o755, file: 0o644 + layer, link: ModeSymlink + 0o777, whiteout: 0 }[kind];
  return { stat: { name: '', size: 0, mode, linkTarget: kind === 'link' ? '/elsewhere' : '' }, whiteout: kind === 'whiteout' };
}

/** Looks `path` up in `layers` (top first); records every (layer, dir) asked about, and each lookup made. */
function lookupIn(layers: Layer[], path: string) {
  const asked: string[] = [];
  const looked: string[] = [];
  const found = overlayLookup(
    path,
    layers.length,
    (layer, p) => {
      looked.push(`${String(layer)}:${p}`);
      const kind = p === '/' ? 'dir' : layers[layer]?.[p];
      return kind === undefined ? undefined : entryOf(kind, layer);
    },
    (layer, dir) => {
      asked.push(`${String(layer)}:${dir}`);
      return layers[layer]?.[dir] === 'opaque-dir';
    },
  );
  return { found: found && { layer: found.layer, mode: found.stat.mode }, asked, looked };
}

const base: Layer = { '/etc': 'dir', '/etc/passwd': 'file', '/usr': 'dir', '/usr/lib': 'dir', '/usr/lib/os-release': 'file', '/sbin': 'dir', '/sbin/init': 'link' };

describe('overlayLookup', () => {
  it('finds a path in the only layer without asking about opaque directories', () => {
    expect(lookupIn([base], '/usr/lib/os-release')).toMatchObject({ found: { layer: 0 }, asked: [] });
    expect(lookupIn([base], '/usr/lib/nothing')).toMatchObject({ found: undefined, asked: [] });
  });

  it('takes the topmost layer that has the path', () => {
    expect(lookupIn([{ '/etc': 'dir', '/etc/passwd': 'file' }, base], '/etc/passwd').found).toEqual({ layer: 0, mode: 0o644 });
  });

  it('shows a lower layer through upper directories that are not opaque, asking about each', () => {
    const result = lookupIn([{ '/usr': 'dir', '/usr/lib': 'dir' }, base], '/usr/lib/os-release');
    expect(result.found).toEqual({ layer: 1, mode: 0o645 });
    expect(result.asked).toEqual(['0:/usr', '0:/usr/lib']);
  });

  it('a whiteout hides the path', () => {
    expect(lookupIn([{ '/sbin': 'dir', '/sbin/init': 'whiteout' }, base], '/sbin/init').found).toBeUndefined();
  });

  it('a whiteout or a file on the way hides the whole subtree, without looking below it', () => {
    for (const kind of ['whiteout', 'file'] as const) {
      const result = lookupIn([{ '/usr': kind }, base], '/usr/lib/os-release');
      expect(result.found).toBeUndefined();
      expect(result.looked).toEqual(['0:/usr']);
    }
  });

  it('an opaque directory hides what lower layers hold below it, also deeper down', () => {
    expect(lookupIn([{ '/usr': 'dir', '/usr/lib': 'opaque-dir' }, base], '/usr/lib/os-release').found).toBeUndefined();
    expect(lookupIn([{ '/usr': 'opaque-dir' }, base], '/usr/lib/os-release').found).toBeUndefined();
    expect(lookupIn([{ '/usr': 'opaque-dir', '/usr/lib': 'dir', '/usr/lib/os-release': 'file' }, base], '/usr/lib/os-release').found).toEqual({ layer: 0, mode: 0o644 });
  });

  it('never looks at a path below a symlink inside a layer directory', () => {
    // /usr is a link in the lower layer: looking up /usr/lib there would follow the link on the host.
    const result = lookupIn([{ '/usr': 'dir' }, { '/usr': 'link' }], '/usr/lib');
    expect(result.found).toBeUndefined();
    expect(result.looked).not.toContain('1:/usr/lib');
  });

  it('the root is the top layer directory', () => {
    expect(lookupIn([{}, base], '/').found).toEqual({ layer: 0, mode: ModeDir + 0o755 });
  });
});
