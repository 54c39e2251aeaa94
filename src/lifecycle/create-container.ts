/**
 * The create step of an operation: the workspace's volumes, then its container (or the one a crashed run already
 * made, found by its deterministic name and generation), then the GPU loader config; the record loses its pending
 * create once the container exists.
 */
import { buildContainerSpec, containerName } from '../container/container-spec.js';
import { GENERATION_LABEL } from '../container/labels.js';
import { GPU_LD_CONF, planGpus } from '../gpu/plan.js';
import type { ImageFacts } from '../image/facts.js';
import { specHash } from '../spec/spec-hash.js';
import type { OperationDeps } from './operations.js';
import { stopContainer } from './stop-container.js';
import type { PendingOperation, WorkspaceRecord } from './store.js';
import { makeMissingVolumes, readWorkspaceVolumes } from './volumes.js';
import type { GpuSummary, Workspace } from './workspace.js';

export interface Created {
  recorded: Promise<void>;
  made: boolean;
}

/** What one operation builds: the spec and generation of the record when it began. */
export type Target = Pick<WorkspaceRecord, 'spec' | 'generation'>;

type CreateDeps = Pick<OperationDeps, 'engine' | 'store' | 'nodeFacts' | 'resolveMountSources' | 'instance'>;

/**
 * Resolves once the container exists; `recorded` resolves when the record without its pending create is on disk.
 * The caller may start the container meanwhile: a crash before that write only makes the next run find this
 * container by its generation. `made`: this call made the container (from bind sources it resolved just now),
 * rather than finding one a crashed run made.
 */
export async function createWorkspaceContainer(
  deps: CreateDeps,
  ws: Workspace,
  target: Target,
  imageId: string,
  facts: ImageFacts,
  completing: PendingOperation,
): Promise<Created> {
  const { engine, store } = deps;
  const { spec, generation } = target;
  const hash = specHash(spec);
  // The reads side by side, each a round trip; the volumes only once the body is known to be valid.
  const [node, mountSources, existing, volumes] = await Promise.all([
    deps.nodeFacts(),
    deps.resolveMountSources((spec.mounts ?? []).map((m) => m.source)),
    engine.inspectContainer(containerName(ws.id, deps.instance)),
    readWorkspaceVolumes(engine, ws.id, spec, deps.instance),
  ]);
  const createSpec = buildContainerSpec({ id: ws.id, spec, facts, node, imageId, specHash: hash, generation, instance: deps.instance, mountSources });
  await makeMissingVolumes(engine, volumes);
  let containerId: string;
  const made = existing?.labels[GENERATION_LABEL] !== String(generation);
  if (!made) {
    containerId = existing.id; // made before a crash; reuse it
  } else {
    if (existing) {
      ws.log.append('info', `replacing container ${existing.id.slice(0, 12)} (generation ${existing.labels[GENERATION_LABEL] ?? '?'})`);
      await stopContainer(deps.engine, existing.id, existing.config.stopSignal);
      await engine.removeContainer(existing.id, { force: true });
    }
    containerId = await engine.createContainer(createSpec);
  }
  const gpuPlan = planGpus(spec, node.gpus, facts.osRelease);
  if (gpuPlan?.ldConfigDir && !(await engine.statPath(containerId, GPU_LD_CONF))) {
    await engine.putFiles(containerId, '/', [{ path: GPU_LD_CONF.slice(1), content: `${gpuPlan.ldConfigDir}\n`, mode: 0o644 }]);
  }
  ws.gpus = gpuSummaries(gpuPlan?.gpus ?? []);
  ws.containerId = containerId;
  ws.containerSpecHash = hash;
  ws.runtime = createSpec.HostConfig.Runtime ?? null;
  ws.workdir = createSpec.WorkingDir ?? null;
  // A delete or rebuild requested while this create ran has replaced `pending`; it must survive the create.
  if (ws.record.pending === completing) ws.record.pending = null;
  return { recorded: store.save(ws.record), made };
}

/** What the status shows of each GPU a workspace got. */
export function gpuSummaries(gpus: readonly GpuSummary[]): GpuSummary[] {
  return gpus.map(({ index, uuid, model }) => ({ index, uuid, model }));
}
