/**
 * GPU facts for the report: the NVIDIA driver and its GPUs as /proc shows them, and AMD nodes. Planning GPU
 * passthrough (devices, libraries, cloud refusals) is the GPU module's; this only tells the admin what is there.
 * GPUs are optional, so the worst outcome is a warning.
 */
import { type Check, pass } from './report.js';

export interface GpuFacts {
  gpusEnabled: boolean;
  /** /proc/driver/nvidia/version, or null. */
  nvidiaVersion: string | null;
  /** Entries of /proc/driver/nvidia/gpus. */
  nvidiaGpus: number;
  /** /dev/kfd exists (AMD ROCm). */
  amd: boolean;
}

export function gpuCheck(facts: GpuFacts): Check {
  if (!facts.gpusEnabled) return pass('gpu', 'GPU passthrough is disabled (--gpus-enabled false)');
  const driver = facts.nvidiaVersion === null ? null : (/Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]*)/.exec(facts.nvidiaVersion)?.[1] ?? 'unknown');
  if (facts.amd && driver === null) {
    return { id: 'gpu', status: 'warn', evidence: 'an AMD GPU (/dev/kfd) and no NVIDIA driver', hint: 'only NVIDIA GPUs can be passed to workspaces' };
  }
  if (driver === null) return pass('gpu', 'no NVIDIA driver: workspaces get no GPUs');
  if (facts.nvidiaGpus === 0) {
    return { id: 'gpu', status: 'warn', evidence: `NVIDIA driver ${driver} but no GPUs under /proc/driver/nvidia/gpus`, hint: 'check nvidia-smi on the node' };
  }
  return pass('gpu', `NVIDIA driver ${driver}, ${facts.nvidiaGpus} GPU(s)`);
}
