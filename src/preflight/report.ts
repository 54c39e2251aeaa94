/**
 * The preflight report (API.md): each check passes, warns or fails, with evidence and a fix hint. Pure functions of
 * facts gathered elsewhere; the full set of node checks arrives with the security issue.
 */
import { gpuCheck } from '../gpu/preflight.js';
import type { GpuNode } from '../gpu/plan.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface Check {
  id: string;
  status: CheckStatus;
  evidence: string;
  hint: string | null;
}

export interface PreflightReport {
  ok: boolean;
  checks: Check[];
}

export interface PreflightFacts {
  kernelRelease: string;
  runtimes: string[] | null;
  cvmRuntime: string;
  cvmEnabled: boolean;
  cgroupVersion: string | null;
  /** GPU discovery; absent when it did not run. */
  gpus?: GpuNode;
}

const MIN_KERNEL: readonly [number, number] = [5, 4];

export function kernelCheck(release: string): Check {
  const match = /^(\d+)\.(\d+)/.exec(release);
  const major = Number(match?.[1] ?? 0);
  const minor = Number(match?.[2] ?? 0);
  const ok = major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1]);
  return ok
    ? { id: 'kernel', status: 'pass', evidence: `${release} >= ${MIN_KERNEL.join('.')}`, hint: null }
    : { id: 'kernel', status: 'fail', evidence: `${release} < ${MIN_KERNEL.join('.')}`, hint: 'CVMs need Linux 5.4 or newer: use a newer node image (e.g. Ubuntu 20.04+)' };
}

export function runtimeCheck(runtimes: string[] | null, cvmRuntime: string, cvmEnabled: boolean): Check {
  if (runtimes === null) {
    return { id: 'runtime', status: 'fail', evidence: 'the engine does not answer', hint: 'start the engine, or check --docker-host' };
  }
  if (runtimes.includes(cvmRuntime)) return { id: 'runtime', status: 'pass', evidence: `engine runtimes: ${runtimes.join(', ')}`, hint: null };
  return {
    id: 'runtime',
    // Without CVMs on this node a missing sysbox is expected.
    status: cvmEnabled ? 'fail' : 'warn',
    evidence: `engine runtimes: ${runtimes.join(', ')}`,
    hint: `install sysbox on the node so that the engine lists ${cvmRuntime}`,
  };
}

export function cgroupCheck(version: string | null): Check {
  if (version === null) return { id: 'cgroup', status: 'warn', evidence: 'unknown: the engine does not answer', hint: null };
  return { id: 'cgroup', status: 'pass', evidence: `cgroup v${version}`, hint: null };
}

export function preflightReport(facts: PreflightFacts): PreflightReport {
  const checks = [
    kernelCheck(facts.kernelRelease),
    runtimeCheck(facts.runtimes, facts.cvmRuntime, facts.cvmEnabled),
    cgroupCheck(facts.cgroupVersion),
    ...(facts.gpus ? [gpuCheck(facts.gpus)] : []),
  ];
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}
