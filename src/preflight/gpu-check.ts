/** The preflight check of the node's GPUs (id `gpu`): pure, from the admin switch and what discovery found. */
import type { GpuNode } from '../gpu/plan.js';
import type { Check } from './report.js';

export function gpuCheck({ enabled, facts }: GpuNode): Check {
  if (!enabled) return { id: 'gpu', status: 'pass', evidence: 'GPU passthrough is disabled (--gpus-enabled false)', hint: null };
  if (facts.unsupported !== null) {
    // Most nodes have no GPU; that is not a failure of the node, but every GPU request will be refused.
    return { id: 'gpu', status: 'warn', evidence: facts.unsupported, hint: 'GPU requests are refused here (GpuUnsupported); see docs/gpus.md' };
  }
  const models = facts.gpus.map((g) => `${g.index}: ${g.model}`).join(', ');
  const evidence = `${facts.gpus.length} GPU(s) (${models}), driver ${facts.driverVersion ?? '?'}, ${facts.libraries.length} driver libraries`;
  if (facts.libraries.length === 0) {
    return {
      id: 'gpu',
      status: 'warn',
      evidence: `${evidence} in ${facts.libraryDirs.join(', ')}`,
      hint: "mount the host's /usr/lib (and /usr/lib64 on RHEL) under --host-root, or set CODER_USR_LIB_DIR",
    };
  }
  return { id: 'gpu', status: 'pass', evidence, hint: null };
}
