/**
 * Image facts read straight from the image's overlay2 layer directories (the daemon's view of the engine's data
 * root): no container is created, so a detection costs a few dozen lstat calls instead of two engine round trips
 * that each write the engine's state. The merge rules are in overlay.ts.
 */
import { execFile } from 'node:child_process';
import { constants, lstatSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PathStat } from '../engine/types.js';
import type { ImageFacts } from './facts.js';
import { goFileModeOf, isDir, isRegular, isSymlink } from './filemode.js';
import { factsFromView, type ImageView } from './image-view.js';
import { type LayerEntry, overlayLookup } from './overlay.js';

/** The layers cannot be read here (not mounted into the daemon, not overlay2, no getfattr, ...). */
export class LayerAccessError extends Error {
  override name = 'LayerAccessError';
}

/** Which of the given directories (daemon paths) carry overlayfs' opaque xattr. */
export type OpaqueReader = (dirs: string[]) => Promise<Set<string>>;

const NOT_THERE = new Set(['ENOENT', 'ENOTDIR']);

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function accessError(what: string, error: unknown): LayerAccessError {
  return new LayerAccessError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * Synchronous lstat on purpose: a detection makes a few dozen metadata lookups on local disk, each far cheaper
 * than a round trip through libuv's thread pool.
 */
function lstatEntry(file: string): LayerEntry | undefined {
  try {
    const stats = lstatSync(file);
    const mode = goFileModeOf(stats.mode);
    const stat: PathStat = { name: path.basename(file), size: stats.size, mode, linkTarget: isSymlink(mode) ? readlinkSync(file) : '' };
    return { stat, whiteout: stats.isCharacterDevice() && stats.rdev === 0 };
  } catch (error) {
    if (NOT_THERE.has(errorCode(error) ?? '')) return undefined;
    throw accessError(`lstat ${file}`, error);
  }
}

/** Reads at most maxBytes + 1 bytes without following a link at the last component; the parents are real dirs. */
async function readLayerFile(file: string, maxBytes: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (NOT_THERE.has(errorCode(error) ?? '')) return undefined;
    throw accessError(`open ${file}`, error);
  }
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return bytesRead > maxBytes ? undefined : buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** One pass over the layers; opaque directories not yet known are assumed not opaque and recorded in `unknown`. */
function layerView(layerDirs: readonly string[], opaque: ReadonlyMap<string, boolean>, unknown: Set<string>): ImageView {
  const entries = new Map<string, LayerEntry | undefined>();
  const lookup = (layer: number, imagePath: string): LayerEntry | undefined => {
    const file = path.join(layerDirs[layer] ?? '', imagePath);
    if (!entries.has(file)) entries.set(file, lstatEntry(file));
    return entries.get(file);
  };
  const isOpaque = (layer: number, dir: string): boolean => {
    const file = path.join(layerDirs[layer] ?? '', dir);
    const known = opaque.get(file);
    if (known === undefined) unknown.add(file);
    return known ?? false;
  };
  const find = (imagePath: string) => overlayLookup(imagePath, layerDirs.length, lookup, isOpaque);
  return {
    lstat: (imagePath) => Promise.resolve(find(imagePath)?.stat),
    readFile: async (imagePath, maxBytes) => {
      const found = find(imagePath);
      if (found === undefined || !isRegular(found.stat.mode)) return undefined;
      return readLayerFile(path.join(layerDirs[found.layer] ?? '', imagePath), maxBytes);
    },
  };
}

/** Passes after which a detection that keeps discovering opaque directories gives up (never seen: 2 suffice). */
const MAX_PASSES = 5;

/**
 * `layerDirs`: the image's layer `diff` directories, top first, as the daemon sees them. A first pass assumes no
 * directory is opaque and records the ones whose opaqueness mattered; they are read in one batch, and the pass is
 * repeated with the answers until no unknown one is left. A one-layer image needs no xattr at all.
 */
export async function detectFromLayers(imageId: string, layerDirs: readonly string[], readOpaque: OpaqueReader): Promise<ImageFacts> {
  const top = layerDirs[0];
  if (top === undefined) throw new LayerAccessError('the image has no layer directories');
  const root = lstatEntry(top);
  if (root === undefined || !isDir(root.stat.mode)) throw new LayerAccessError(`${top} is not a directory here`);
  const opaque = new Map<string, boolean>();
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    const unknown = new Set<string>();
    const facts = await factsFromView(imageId, layerView(layerDirs, opaque, unknown));
    // An image removed meanwhile reads as empty; such facts must not be cached.
    if (lstatEntry(top) === undefined) throw new LayerAccessError(`${top} disappeared during the detection`);
    if (unknown.size === 0) return facts;
    const found = await readOpaque([...unknown]);
    for (const dir of unknown) opaque.set(dir, found.has(dir));
  }
  throw new LayerAccessError(`opaque directories still unknown after ${String(MAX_PASSES)} passes`);
}

/** Paths getfattr prints as given: anything else (it escapes e.g. newlines and backslashes) is not batched. */
const PLAIN_PATH = /^[\w./+@:~-]+$/;
const execFileAsync = promisify(execFile);

/** Reads the opaque xattr (trusted. as root, user. in rootless overlay) of many directories with one getfattr. */
export const readOpaqueWithGetfattr: OpaqueReader = async (dirs) => {
  const odd = dirs.find((dir) => !PLAIN_PATH.test(dir));
  if (odd !== undefined) throw new LayerAccessError(`cannot ask getfattr about ${JSON.stringify(odd)}`);
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('getfattr', ['--absolute-names', '-d', '-m', '^(trusted|user)\\.overlay\\.opaque$', '--', ...dirs]));
  } catch (error) {
    throw accessError('getfattr (Debian package attr)', error);
  }
  const opaque = new Set<string>();
  let current: string | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice('# file: '.length);
    else if (current !== undefined && /^(trusted|user)\.overlay\.opaque="y"$/.test(line)) opaque.add(current);
  }
  return opaque;
};
