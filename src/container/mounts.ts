/**
 * User bind mounts and mount targets: pure checks. The I/O side resolves each requested source with realpath()
 * under the host root (following host symlinks and `..`) and hands the results in; nothing here touches disk.
 */
import type { MountSpec as EngineMount } from '../engine/types.js';
import { InvalidSpecError, WorkspaceFailure } from '../errors.js';
import type { MountSpec as UserMount } from '../spec/workspace-spec.js';
import { type BindNodeFacts, bindPolicyOf } from './device-mappings.js';
import { enginePathOf, hostPathOf, isSameOrUnder, normalisePath } from './host-paths.js';
import type { NodeFacts } from './node-facts.js';
import { bindSourceViolation, forbiddenReason } from './protected-paths.js';

/** realpath() of each spec.mounts[].source, keyed by the source as the spec writes it; values in the daemon's view. */
export type ResolvedMountSources = ReadonlyMap<string, string>;

/** Mount targets that would hide what the runtime sets up inside (sysbox virtualises parts of /proc and /sys). */
const SHADOW_FORBIDDEN_TARGETS: readonly string[] = ['/proc', '/sys', '/dev'];

export type MountNodeFacts = Pick<NodeFacts, 'hostRoot' | 'engineHostRoot' | 'allowedMountRoots' | 'protectedHostPaths'>;

/**
 * Turns the spec's bind mounts into engine mounts. Each source must resolve inside the host root, lie under an
 * allowed mount root and not be forbidden; the engine gets the resolved path in its own view of the host, so a
 * symlink swapped after the check cannot redirect the mount.
 */
export function planUserMounts(
  mounts: readonly UserMount[],
  resolved: ResolvedMountSources | undefined,
  node: MountNodeFacts,
): EngineMount[] {
  const allowedRoots = node.allowedMountRoots.map(normalisePath);
  return mounts.map((mount, i) => {
    const where = `mounts[${i}].source`;
    const realPath = resolved?.get(mount.source);
    if (realPath === undefined) throw new InvalidSpecError(where, `${mount.source} was not resolved on the host`);
    const hostPath = hostPathOf(realPath, node.hostRoot);
    if (hostPath === null) {
      throw new InvalidSpecError(where, `${mount.source} (resolves to ${realPath}, outside the host root) is not allowed`);
    }
    const shown = hostPath === mount.source ? mount.source : `${mount.source} (resolves to ${hostPath})`;
    const reason = forbiddenReason(hostPath, node.protectedHostPaths);
    if (reason !== null) throw new InvalidSpecError(where, `${shown} is not allowed: ${reason}`);
    if (allowedRoots.length === 0) {
      throw new InvalidSpecError(where, `${shown} is not allowed: this node allows no user mounts (--allowed-mount-root)`);
    }
    if (!allowedRoots.some((root) => isSameOrUnder(hostPath, root))) {
      throw new InvalidSpecError(where, `${shown} is not allowed: it is not under an allowed mount root (${allowedRoots.join(', ')})`);
    }
    checkTarget(mount.target, `mounts[${i}].target`);
    return { Type: 'bind', Source: enginePathOf(hostPath, node.engineHostRoot), Target: mount.target, ReadOnly: mount.readOnly ?? false };
  });
}

/** A mount target must be a normalised absolute path that hides neither / nor the kernel interfaces. */
export function checkTarget(target: string, where: string): void {
  if (!target.startsWith('/') || normalisePath(target) !== target) {
    throw new InvalidSpecError(where, `${target} is not a normalised absolute path`);
  }
  const shadowed = target === '/' ? '/' : SHADOW_FORBIDDEN_TARGETS.find((t) => isSameOrUnder(target, t));
  if (shadowed !== undefined) throw new InvalidSpecError(where, `${target} would shadow ${shadowed}, which is not allowed`);
}

/** The engine refuses two mounts at one target; say which spec fields collide before it does. */
export function assertDistinctTargets(targets: readonly { target: string; where: string }[]): void {
  const seen = new Map<string, string>();
  for (const { target, where } of targets) {
    const earlier = seen.get(target);
    if (earlier !== undefined) throw new InvalidSpecError(where, `${target} is already the target of ${earlier}`);
    seen.set(target, where);
  }
}

/** A bind of a container as the engine recorded it (source in the engine's view) and will mount it at each start. */
export interface RecordedBind {
  source: string;
  destination: string;
  rw: boolean;
}

/**
 * Before every start: the engine mounts each bind source again, following any symlink in it, so each must still
 * resolve to itself (no symlink swapped into it or a parent since the container was made) and still pass the
 * node's bind policy. The GPU driver's files the node found are exempt, as from the policy. `resolved`:
 * realpath() of each source in host terms, in the daemon's view (missing: gone).
 * Throws WorkspaceFailure (InvalidSpec) naming the mount; nothing is started.
 */
export function recheckBinds(binds: readonly RecordedBind[], resolved: ResolvedMountSources, node: BindNodeFacts & Pick<NodeFacts, 'hostRoot'>): void {
  const policy = bindPolicyOf(node);
  for (const bind of binds) {
    const hostPath = hostPathOf(bind.source, node.engineHostRoot);
    if (hostPath === null) throw refusedBind(bind, `${bind.source} lies outside the engine's host root`);
    // The GPU driver's files lie in system directories that no workspace can write (they are protected).
    if (!bind.rw && policy.driverFiles.has(hostPath)) continue;
    const realPath = resolved.get(hostPath);
    if (realPath === undefined) throw refusedBind(bind, `${hostPath} no longer exists on the host`);
    const realHostPath = hostPathOf(realPath, node.hostRoot);
    if (realHostPath !== hostPath) {
      throw refusedBind(bind, `${hostPath} now resolves to ${realHostPath ?? `${realPath}, outside the host root`} (a symlink in its path)`);
    }
    const violation = bindSourceViolation({ hostPath, readOnly: !bind.rw }, policy);
    if (violation !== null) throw refusedBind(bind, `${hostPath} is no longer allowed: ${violation}`);
  }
}

function refusedBind(bind: RecordedBind, why: string): WorkspaceFailure {
  return new WorkspaceFailure('InvalidSpec', `mount ${bind.destination}: ${why}; not started (restore the source, or rebuild to check it anew)`);
}
