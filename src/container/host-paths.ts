/**
 * A host path has three spellings:
 * - host terms: how the admin and the spec write it (`/var/lib/coder/shared`, `/dev/fuse`);
 * - the daemon's view: the same file under `hostRoot` (`--host-root`, e.g. `/host/var/lib/coder/shared`);
 * - the engine's view: the same file under `engineHostRoot` (`--engine-host-root`), what is handed to the engine.
 * These functions convert between them. Pure.
 */
import path from 'node:path';

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
