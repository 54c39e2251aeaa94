/**
 * What the container-spec builder needs to know about the node. Gathering these facts (engine /info, stat of
 * device nodes, config) is I/O and happens elsewhere; this file only defines them and the path rewriting.
 *
 * A host path has three spellings:
 * - host terms: how the admin and the spec write it (`/var/lib/coder/shared`, `/dev/fuse`);
 * - the daemon's view: the same file under `hostRoot` (`--host-root`, e.g. `/host/var/lib/coder/shared`);
 * - the engine's view: the same file under `engineHostRoot` (`--engine-host-root`), what is handed to the engine.
 */
import path from 'node:path';
import type { GpuNode } from '../gpu/plan.js';

export const DEFAULT_CVM_RUNTIME = 'sysbox-runc';

/** A device node on the host. `path` is in the daemon's view (under hostRoot). */
export interface DeviceNode {
  path: string;
  /** st_mode permission bits (e.g. 0o666); type bits are ignored. */
  mode: number;
}

export interface NodeFacts {
  /** The runtime CVMs use (`--runtime`, normally DEFAULT_CVM_RUNTIME). */
  cvmRuntime: string;
  /** The runtimes the engine's GET /info lists. */
  runtimes: string[];
  /** The admin switch (`--cvm-enabled`). */
  cvmEnabled: boolean;
  /** The engine network workspaces join (`--network`). */
  network: string;
  /** Where the daemon sees the host's root (`--host-root`). */
  hostRoot: string;
  /** Where the engine sees the host's root (`--engine-host-root`). */
  engineHostRoot: string;
  devices: { fuse: DeviceNode | null; tun: DeviceNode | null };
  /** Host roots (host terms) under which user bind mounts may lie; empty refuses every user mount. */
  allowedMountRoots: string[];
  /**
   * The daemon's own files and the engine's state, in host terms: the state dir, the token file, the engine's
   * data root, a non-standard engine socket. No mount may expose them or a directory containing them.
   */
  protectedHostPaths: string[];
  /** The admin switch and what GPU discovery found; absent when discovery did not run (GPU requests are refused). */
  gpus?: GpuNode;
}

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
