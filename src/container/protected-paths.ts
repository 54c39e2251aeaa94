/**
 * The paths no workspace may reach, in host terms, and the rules built on them: which bind source is forbidden and
 * which allowed mount root is refused at start. Pure.
 */
import path from 'node:path';
import { isSameOrUnder, normalisePath } from './host-paths.js';

/**
 * Host paths (host terms) that no workspace may see, nor any directory that contains one, whatever the allowed
 * roots say: the kernel's interfaces (devices go through `devices`), the host's system files, and the state of the
 * engines, runtimes and the kubelet (the kubelet's pods directory holds every pod's secrets, the daemon's token
 * among them). The daemon's own files and the engine's reported data root come in as protectedHostPaths.
 */
const PROTECTED_HOST_PATHS: readonly string[] = [
  '/proc', '/sys', '/dev', '/etc', '/usr', '/boot', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/root',
  '/run', '/var/run',
  '/var/lib/docker', '/var/lib/containerd', '/var/lib/containers', '/var/lib/kubelet', '/var/lib/sysbox',
  // sysbox-fs's FUSE mounts: every CVM's emulated /proc and /sys files.
  '/var/lib/sysboxfs',
  // Inside /run already; named so that the list reads as the inventory of what must stay out of reach.
  '/run/containerd', '/run/sysbox',
];

/** Engine sockets are refused by name wherever they live. */
const ENGINE_SOCKET_NAMES: ReadonlySet<string> = new Set(['docker.sock', 'containerd.sock']);

/** Why a host path (host terms, normalised) must not be mounted, or null when nothing forbids it. */
export function forbiddenReason(hostPath: string, protectedHostPaths: readonly string[]): string | null {
  if (hostPath === '/') return 'it is the host root';
  if (ENGINE_SOCKET_NAMES.has(path.posix.basename(hostPath))) return 'it is an engine socket';
  for (const forbidden of [...PROTECTED_HOST_PATHS, ...protectedHostPaths.map(normalisePath)]) {
    if (isSameOrUnder(hostPath, forbidden)) return `it lies in ${forbidden}`;
    if (isSameOrUnder(forbidden, hostPath)) return `it contains ${forbidden}`;
  }
  return null;
}

/**
 * Why an allowed mount root (host terms) is refused at start, or null. A root that is, contains or lies in a
 * protected path would let a workspace ask for what the mount checks must then catch one by one; the admin hears
 * about it at once instead.
 */
export function allowedRootRefusal(root: string, protectedHostPaths: readonly string[]): string | null {
  const reason = forbiddenReason(normalisePath(root), protectedHostPaths);
  return reason === null ? null : `${root} cannot be an allowed mount root: ${reason}`;
}

/** What a bind source is checked against: the protected paths, the GPU driver's files and the allowed mount roots. */
export interface BindPolicy {
  protectedHostPaths: readonly string[];
  /** The GPU driver's files the node found (host terms). */
  driverFiles: ReadonlySet<string>;
  allowedMountRoots: readonly string[];
}

/**
 * Why a bind source the daemon hands the engine (host terms) breaks the mount policy, or null. The GPU driver's
 * files are the one exception to the protected paths and the allowed roots: the daemon found them itself (never
 * the spec), as regular files, and binds them read-only. Every other bind is a user mount.
 */
export function bindSourceViolation(bind: { hostPath: string; readOnly: boolean }, policy: BindPolicy): string | null {
  if (bind.readOnly && policy.driverFiles.has(bind.hostPath)) return null;
  const reason = forbiddenReason(bind.hostPath, policy.protectedHostPaths);
  if (reason !== null) return reason;
  const roots = policy.allowedMountRoots.map(normalisePath);
  if (!roots.some((root) => isSameOrUnder(bind.hostPath, root))) return `it is not under an allowed mount root (${roots.join(', ') || 'none'})`;
  return null;
}
