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

/** Throws InvalidSpecError naming the field when the spec names a volume the workspace may not use. Makes nothing. */
export async function checkWorkspaceVolumes(engine: VolumeEngine, id: string, spec: Pick<WorkspaceSpec, 'home' | 'dockerData'>, instance: string | undefined): Promise<void> {
  const uses = volumesOf(id, spec, instance);
  checkVolumes(id, uses, await inspectAll(engine, uses), instance);
}

/**
 * Before create: checks the volumes, makes the missing ones, and checks what the engine answered for those, because
 * making a volume whose name someone else made meanwhile returns theirs.
 */
export async function ensureWorkspaceVolumes(engine: VolumeEngine, id: string, spec: Pick<WorkspaceSpec, 'home' | 'dockerData'>, instance: string | undefined): Promise<void> {
  const uses = volumesOf(id, spec, instance);
  const volumes = await inspectAll(engine, uses);
  checkVolumes(id, uses, volumes, instance);
  for (const use of uses) {
    if (volumes.get(use.name) === undefined) volumes.set(use.name, await engine.createVolume(use.name, volumeLabels(id, instance)));
  }
  checkVolumes(id, uses, volumes, instance);
}
