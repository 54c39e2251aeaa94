/**
 * The labels of workspace containers and volumes, per API.md, and the daemon's instance identity. A daemon finds its
 * own containers by WORKSPACE_LABEL and INSTANCE_LABEL, tells a stale one by GENERATION_LABEL and an outdated one by
 * SPEC_HASH_LABEL. The inspection container's label is with it, in image/inspection-container.ts.
 */
export const WORKSPACE_LABEL = 'dev.cvm-supervisor.workspace';
export const SPEC_HASH_LABEL = 'dev.cvm-supervisor.spec-hash';
/** Which generation of a workspace's container this is; lets adoption tell a stale leftover from the current one. */
export const GENERATION_LABEL = 'dev.cvm-supervisor.generation';
/**
 * The NVIDIA driver version whose versioned libraries a GPU workspace's container binds: once the node has another,
 * those files are gone and the container is made again before it starts (device-mappings.ts gpuDriverChange).
 */
export const GPU_DRIVER_LABEL = 'dev.cvm-supervisor.gpu-driver';
/**
 * Which daemon made it (--instance), when daemons share one engine (one per workspace pod): each adopts, replaces
 * and removes only what carries its own. The node's one unnamed daemon puts none, as every daemon did before the
 * label existed, so it still adopts what those made.
 */
export const INSTANCE_LABEL = 'dev.cvm-supervisor.instance';

/** The instance labels of what daemon `instance` makes (undefined: the unnamed daemon, no label). */
export function instanceLabels(instance: string | undefined): Record<string, string> {
  return instance === undefined ? {} : { [INSTANCE_LABEL]: instance };
}

/** Whether a container's or volume's labels say daemon `instance` made it. */
export function madeBy(labels: Readonly<Record<string, string>>, instance: string | undefined): boolean {
  return labels[INSTANCE_LABEL] === instance;
}

/** The end of a container's or volume's name that keeps daemons' names apart; ids hold no `.`, so none can clash. */
export function instanceSuffix(instance: string | undefined): string {
  return instance === undefined ? '' : `.${instance}`;
}
