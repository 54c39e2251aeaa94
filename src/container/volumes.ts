/**
 * The named volumes a workspace mounts (its home, its Docker data) and which ones it may use: a volume the daemon
 * made for that workspace (its labels), with the `local` driver and no driver options, or one that does not exist
 * yet (the daemon makes it, with those labels). A `local` volume with `o=bind,device=...` is a bind mount of any
 * host path in disguise, and another workspace's volume is that workspace's data, so neither is ever mounted.
 * Volumes are not shared between workspaces (docs/security.md). Pure.
 */
import type { VolumeDetails } from '../engine/types.js';
import { InvalidSpecError } from '../errors.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';
import { INSTANCE_LABEL, instanceLabels, instanceSuffix, madeBy, WORKSPACE_LABEL } from './labels.js';

/** Daemon `instance`'s home volume for workspace `id` when the spec names none (see labels.ts, instanceSuffix). */
function defaultHomeVolume(id: string, instance: string | undefined): string {
  return `cvm-${id}-home${instanceSuffix(instance)}`;
}

/**
 * The labels daemon `instance` puts on the volumes it makes for workspace `id`, and the ones a volume must carry
 * for the workspace to use it.
 */
export function volumeLabels(id: string, instance: string | undefined): Record<string, string> {
  return { [WORKSPACE_LABEL]: id, ...instanceLabels(instance) };
}

export interface VolumeUse {
  name: string;
  /** The spec field that names it (for the default home volume, the field that would). */
  where: 'home.volume' | 'dockerData.volume';
}

/** The named volumes the spec mounts: the home (named or the default), then the Docker data if asked for. */
export function volumesOf(id: string, spec: Pick<WorkspaceSpec, 'home' | 'dockerData'>, instance: string | undefined): VolumeUse[] {
  const home: VolumeUse = { name: spec.home?.volume ?? defaultHomeVolume(id, instance), where: 'home.volume' };
  if (spec.dockerData === undefined) return [home];
  if (spec.dockerData.volume === home.name) {
    throw new InvalidSpecError('dockerData.volume', `${home.name} is also home.volume; a workspace's Docker data needs a volume of its own`);
  }
  return [home, { name: spec.dockerData.volume, where: 'dockerData.volume' }];
}

/**
 * Why workspace `id` of daemon `instance` may not mount `volume` (undefined: it does not exist yet, so the daemon
 * makes it), or null.
 */
export function volumeRefusal(id: string, volume: VolumeDetails | undefined, instance: string | undefined): string | null {
  if (volume === undefined) return null;
  const owner = volume.labels[WORKSPACE_LABEL];
  if (owner !== undefined && owner !== id) return `${volume.name} belongs to workspace ${owner}; volumes are not shared between workspaces`;
  if (owner !== undefined && !madeBy(volume.labels, instance)) {
    const maker = volume.labels[INSTANCE_LABEL];
    return `${volume.name} belongs to ${maker === undefined ? 'the daemon without --instance' : `daemon instance ${maker}`} on this engine; volumes are not shared between daemons`;
  }
  const missing = Object.entries(volumeLabels(id, instance)).filter(([key, value]) => volume.labels[key] !== value);
  if (missing.length > 0) {
    return `${volume.name} was not made by this daemon for workspace ${id} (it lacks ${missing.map(([key, value]) => `${key}=${value}`).join(', ')})`;
  }
  if (volume.driver !== 'local') return `${volume.name} uses the volume driver ${volume.driver}; only local volumes are allowed`;
  // Names only: option values can hold credentials (a CIFS password).
  const options = Object.keys(volume.options).sort();
  if (options.length > 0) return `${volume.name} has driver options (${options.join(', ')}); only volumes without options are allowed`;
  return null;
}

/** Throws InvalidSpecError naming the field when the spec mounts a volume the workspace may not use. */
export function checkVolumes(id: string, uses: readonly VolumeUse[], inspected: ReadonlyMap<string, VolumeDetails | undefined>, instance: string | undefined): void {
  for (const use of uses) {
    const refusal = volumeRefusal(id, inspected.get(use.name), instance);
    if (refusal !== null) throw new InvalidSpecError(use.where, refusal);
  }
}
