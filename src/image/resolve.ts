/**
 * Resolves a path inside an image the way the Linux kernel would if the image were `/`, using only an lstat
 * callback (the engine's archive HEAD). Pure: no I/O beyond the callback.
 *
 * What dockerd's `HEAD /containers/{id}/archive?path=P` does (checked on 20.10):
 * - it cleans P lexically first (`/a/link/../b` becomes `/a/b`, unlike the kernel), then follows symlinks in
 *   the parent directories within the container root, and lstats the last element;
 * - for a symlink it reports `linkTarget` already fully resolved in the container's scope (`/sbin/init` ->
 *   `../lib/systemd/systemd` comes back as `/usr/lib/systemd/systemd`; a dangling link still gets its would-be
 *   absolute path), and it answers 500 when that resolution fails: a loop, or a target through a non-directory.
 * So this resolver walks one component at a time and only ever asks about a path whose parents are already
 * resolved real directories and which contains no `.` or `..`. The engine's lexical cleaning and its parent
 * following then never come into play, and a `linkTarget` is handled correctly whether it is raw (relative or
 * absolute, as a plain lstat/readlink would give) or pre-resolved as dockerd gives it.
 */

import type { PathStat } from '../engine/types.js';
import { isDir, isRegular, isSymlink } from './filemode.js';

export type ResolutionKind = 'file' | 'dir' | 'other' | 'missing' | 'dangling' | 'loop';

export interface Resolution {
  /** file: a regular file; other: a device, fifo or socket; missing: the path (not a link's target) does not
   *  exist or runs through a non-directory; dangling: a symlink on the way points nowhere; loop: too many links. */
  kind: ResolutionKind;
  /** The resolved path; for missing/dangling/loop the path at which resolution stopped, plus what was left. */
  path: string;
  /** Go FileMode of the final object; null when there is none. */
  mode: number | null;
}

/** lstat of one path inside the image; undefined when it does not exist. */
export type Lstat = (path: string) => Promise<PathStat | undefined>;

/** Thrown by an Lstat callback when the engine refused to resolve a symlink (dockerd's 500): treated as a loop. */
export class LinkLoopError extends Error {
  constructor(readonly path: string) {
    super(`cannot resolve symlink ${path}`);
    this.name = 'LinkLoopError';
  }
}

/** Linux's MAXSYMLINKS: more links than this in one lookup is ELOOP. */
const MAX_SYMLINK_HOPS = 40;

interface Component {
  name: string;
  /** Came from a symlink's target: failing to find it makes the link dangling rather than the path missing. */
  fromLink: boolean;
}

function components(path: string, fromLink: boolean): Component[] {
  return path
    .split('/')
    .filter((name) => name !== '' && name !== '.')
    .map((name) => ({ name, fromLink }));
}

function join(dirs: readonly string[], rest: readonly Component[] = []): string {
  return '/' + [...dirs, ...rest.map((c) => c.name)].join('/');
}

export async function resolveInImage(path: string, lstat: Lstat): Promise<Resolution> {
  /** Real directories (no links) from the root down to where the walk is. */
  const resolved: string[] = [];
  const pending = components(path, false);
  let hops = 0;
  let lastDirMode: number | null = null;

  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    if (next.name === '..') {
      resolved.pop(); // `..` at the root stays at the root, as in the kernel.
      lastDirMode = null;
      continue;
    }
    const candidate = join(resolved, [next]);
    let stat: PathStat | undefined;
    try {
      stat = await lstat(candidate);
    } catch (error) {
      if (error instanceof LinkLoopError) return { kind: 'loop', path: join(resolved, [next, ...pending]), mode: null };
      throw error;
    }
    if (stat === undefined) {
      return { kind: next.fromLink ? 'dangling' : 'missing', path: join(resolved, [next, ...pending]), mode: null };
    }
    if (isSymlink(stat.mode)) {
      hops += 1;
      if (hops > MAX_SYMLINK_HOPS) return { kind: 'loop', path: join(resolved, [next, ...pending]), mode: null };
      if (stat.linkTarget === '') return { kind: 'dangling', path: candidate, mode: null };
      if (stat.linkTarget.startsWith('/')) resolved.length = 0;
      pending.unshift(...components(stat.linkTarget, true));
      lastDirMode = null;
      continue;
    }
    if (isDir(stat.mode)) {
      resolved.push(next.name);
      lastDirMode = stat.mode;
      continue;
    }
    if (pending.length > 0) {
      // A file used as a directory: ENOTDIR, which for our purposes is "not there".
      return { kind: next.fromLink ? 'dangling' : 'missing', path: join(resolved, [next, ...pending]), mode: null };
    }
    return { kind: isRegular(stat.mode) ? 'file' : 'other', path: candidate, mode: stat.mode };
  }

  // Ended on a directory. A walk that ended by `..` or a link to `/` has not statted it yet.
  const finalPath = join(resolved);
  if (lastDirMode === null) {
    const stat = await lstat(finalPath);
    if (stat === undefined) return { kind: 'missing', path: finalPath, mode: null };
    lastDirMode = stat.mode;
  }
  return { kind: 'dir', path: finalPath, mode: lastDirMode };
}
