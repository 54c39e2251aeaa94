/**
 * The engine's side of the volume rule (container/volumes.ts): a workspace's named volumes read from the engine,
 * checked, and the missing ones made with the workspace's labels. Run at PUT and again before each create, since
 * a volume can be made or replaced in between.
 */
import { checkVolumes, volumeLabels, type VolumeUse, volumesOf } from '../container/volumes.js';
import type { Engine, VolumeDetails } from '../engine/types.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';

type VolumeEngine = Pick<Engine, 'inspectVolume' | 'createVolume'>;

async function inspectAll(engine: VolumeEngine, uses: readonly VolumeUse[]): Promise<Map<string, VolumeDetails | undefined>> {
  return new Map(await Promise.all(uses.map(async (use) => [use.name, await engine.inspectVolume(use.name)] as const)));
}

/** A workspace's named volumes and what the engine answered for each (undefined: there is none). */
export interface WorkspaceVolumes {
  readonly id: string;
  readonly instance: string | undefined;
  readonly uses: readonly VolumeUse[];
  readonly found: Map<string, VolumeDetails | undefined>;
}

/** Reads the volumes the spec names. Makes nothing and checks nothing yet. */
export async function readWorkspaceVolumes(engine: VolumeEngine, id: string, spec: Pick<WorkspaceSpec, 'home' | 'dockerData'>, instance: string | undefined): Promise<WorkspaceVolumes> {
  const uses = volumesOf(id, spec, instance);
  return { id, instance, uses, found: await inspectAll(engine, uses) };
}

/** Throws InvalidSpecError naming the field when the spec names a volume the workspace may not use. Makes nothing. */
export async function checkWorkspaceVolumes(engine: VolumeEngine, id: string, spec: Pick<WorkspaceSpec, 'home' | 'dockerData'>, instance: string | undefined): Promise<void> {
  const { uses, found } = await readWorkspaceVolumes(engine, id, spec, instance);
  checkVolumes(id, uses, found, instance);
}

/**
 * Before create, from what readWorkspaceVolumes found: checks the volumes, makes the missing ones, and checks what
 * the engine answered for those, because making a volume whose name someone else made meanwhile returns theirs.
 */
export async function makeMissingVolumes(engine: VolumeEngine, { id, instance, uses, found }: WorkspaceVolumes): Promise<void> {
  const volumes = new Map(found);
  checkVolumes(id, uses, volumes, instance);
  for (const use of uses) {
    if (volumes.get(use.name) === undefined) volumes.set(use.name, await engine.createVolume(use.name, volumeLabels(id, instance)));
  }
  checkVolumes(id, uses, volumes, instance);
}
