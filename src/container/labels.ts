/**
 * The labels of workspace containers, per API.md. The daemon finds its own containers by WORKSPACE_LABEL and
 * SPEC_HASH_LABEL only. The inspection container's label is with it, in image/inspection-container.ts.
 */
export const WORKSPACE_LABEL = 'dev.cvm-supervisor.workspace';
export const SPEC_HASH_LABEL = 'dev.cvm-supervisor.spec-hash';
/** Which generation of a workspace's container this is; lets adoption tell a stale leftover from the current one. */
export const GENERATION_LABEL = 'dev.cvm-supervisor.generation';
