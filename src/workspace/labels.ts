/** Labels per API.md. The daemon finds its own containers by WORKSPACE_LABEL and SPEC_HASH_LABEL only. */
export const WORKSPACE_LABEL = 'dev.cvm-supervisor.workspace';
export const SPEC_HASH_LABEL = 'dev.cvm-supervisor.spec-hash';
/** On the short-lived, never-started inspection container made by init detection. */
export const INSPECTION_LABEL = 'dev.cvm-supervisor.inspection';
/** Which generation of a workspace's container this is; lets adoption tell a stale leftover from the current one. */
export const GENERATION_LABEL = 'dev.cvm-supervisor.generation';
