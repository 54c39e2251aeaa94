/**
 * A host path has three spellings:
 * - host terms: how the admin and the spec write it (`/var/lib/coder/shared`, `/dev/fuse`);
 * - the daemon's view: the same file under `hostRoot` (`--host-root`, e.g. `/host/var/lib/coder/shared`);
 * - the engine's view: the same file under `engineHostRoot` (`--engine-host-root`), what is handed to the engine.
 * These functions convert between them. Pure.
 */
import path from 'node:path';
import type { MountInfoEntry } from '../host/mountinfo.js';

/** Resolves `.`/`..`/duplicate slashes and drops a trailing slash (except for `/`). */
export function normalisePath(p: string): string {
  const normal = path.posix.normalize(p);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** True when `p` is `root` or lies below it. Both must be normalised absolute paths. */
export function isSameOrUnder(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

/** Daemon's view → host terms; null when the path lies outside the host root (or is not absolute). */
export function hostPathOf(daemonPath: string, hostRoot: string): string | null {
  if (!daemonPath.startsWith('/')) return null;
  const p = normalisePath(daemonPath);
  const root = normalisePath(hostRoot);
  if (!isSameOrUnder(p, root)) return null;
  if (root === '/') return p;
  return p === root ? '/' : p.slice(root.length);
}

/** Host terms → the engine's view. */
export function enginePathOf(hostPath: string, engineHostRoot: string): string {
  const root = normalisePath(engineHostRoot);
  if (root === '/') return hostPath;
  return hostPath === '/' ? root : `${root}${hostPath}`;
}

/**
 * The engine's view → the daemon's view; null when the engine's path is not under the host root it sees. When
 * both roots are the same directory the engine runs in the daemon's own mount namespace (embedded mode), where
 * every path (its data root too) reads the same.
 */
export function daemonPathOfEnginePath(enginePath: string, roots: { hostRoot: string; engineHostRoot: string }): string | null {
  if (normalisePath(roots.hostRoot) === normalisePath(roots.engineHostRoot)) return enginePath.startsWith('/') ? normalisePath(enginePath) : null;
  const hostPath = hostPathOf(enginePath, roots.engineHostRoot);
  return hostPath === null ? null : enginePathOf(hostPath, roots.hostRoot);
}

/** The mount tables that tell where a file of the daemon's own appears on the host. */
export interface MountTables {
  /** The daemon's own mount namespace (/proc/self/mountinfo). */
  own: readonly MountInfoEntry[];
  /** The host's (its /proc/1/mountinfo, read under --host-root); mount points are in host terms. Empty if unreadable. */
  host: readonly MountInfoEntry[];
}

/** The mount holding `p`: the longest mount point containing it, the last of equal ones (it is on top). */
function mountHolding(p: string, mounts: readonly MountInfoEntry[]): MountInfoEntry | null {
  let best: MountInfoEntry | null = null;
  for (const m of mounts) {
    if (isSameOrUnder(p, m.mountPoint) && (best === null || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** `p` (under `from`) moved under `to`. */
function rebase(p: string, from: string, to: string): string {
  return normalisePath(path.posix.join(to, path.posix.relative(from, p)));
}

/**
 * Where a file of the daemon's own (its state dir, token file, ...: `daemonPath`, real, in the daemon's view)
 * appears in host terms: under --host-root, and wherever its file system is mounted on the host or under the host
 * root. In a pod the state dir is a hostPath and the token a secret, which on the host lies under the kubelet's
 * pods directory; the daemon's own path names neither.
 */
export function hostPathsOfDaemonPath(daemonPath: string, hostRoot: string, tables: MountTables): string[] {
  const p = normalisePath(daemonPath);
  const found = new Set<string>();
  const direct = hostPathOf(p, hostRoot);
  if (direct !== null) found.add(direct);
  const own = mountHolding(p, tables.own);
  if (own !== null) {
    const inFileSystem = rebase(p, own.mountPoint, own.root);
    const sameFile = (m: MountInfoEntry): string | null =>
      m.device === own.device && isSameOrUnder(inFileSystem, m.root) ? rebase(inFileSystem, m.root, m.mountPoint) : null;
    for (const m of tables.host) {
      const onHost = sameFile(m);
      if (onHost !== null) found.add(onHost);
    }
    for (const m of tables.own) {
      const seen = sameFile(m);
      const onHost = seen === null ? null : hostPathOf(seen, hostRoot);
      if (onHost !== null) found.add(onHost);
    }
  }
  return [...found];
}
