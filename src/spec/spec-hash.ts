/**
 * The spec hash on a workspace's container (SPEC_HASH_LABEL): when the stored spec's hash differs from the
 * container's, the workspace is outdated until a rebuild. Fields that never need a new container are left out.
 */
import { createHash } from 'node:crypto';
import type { WorkspaceSpec } from './workspace-spec.js';

/** sha256 hex of the canonical JSON (keys sorted) of the spec without bootstrap, pullAuth, restartPolicy, pullPolicy. */
export function specHash(spec: WorkspaceSpec): string {
  const relevant: Partial<WorkspaceSpec> = { ...spec };
  // The bootstrap script is written before each start, so a new one needs no new container; credentials and
  // policies only steer the daemon.
  delete relevant.bootstrap;
  delete relevant.pullAuth;
  delete relevant.restartPolicy;
  delete relevant.pullPolicy;
  return createHash('sha256').update(canonicalJson(relevant)).digest('hex');
}

/** JSON with object keys sorted at every level and undefined members dropped; array order is kept. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      // The keys of one object are unique: two never compare equal.
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}
