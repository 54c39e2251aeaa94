/**
 * The preflight report (API.md): each check passes, warns or fails, with evidence and a fix hint. The checks are
 * pure functions of facts gathered by gather.ts; this file holds the shared types, the checks of the engine
 * (reachable, runtime, cgroups) and of the kernel, and the assembly.
 */
import { isSysboxRuntime } from '../config/schema.js';
import type { Place } from './place.js';

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

export function pass(id: string, evidence: string): Check {
  return { id, status: 'pass', evidence, hint: null };
}

/**
 * A failure of a check that only matters for CVMs is a warning while CVMs are disabled: standard workspaces run
 * without sysbox, a new kernel or user namespaces.
 */
export function cvmOnly(check: Check, cvmEnabled: boolean): Check {
  return check.status === 'fail' && !cvmEnabled ? { ...check, status: 'warn', evidence: `${check.evidence} (CVMs are disabled)` } : check;
}

const MIN_KERNEL: readonly [number, number] = [5, 4];

/** major.minor of a kernel release such as `5.4.0-1024-gcp` or `6.18.44-fc-v769`; null when it has none. */
export function parseKernelRelease(release: string): [number, number] | null {
  const match = /^\s*(\d+)\.(\d+)(?:[.\-+_~].*)?\s*$/.exec(release);
  if (!match) return null;
  return [Number(match[1]), Number(match[2])];
}

export function kernelCheck(release: string): Check {
  const version = parseKernelRelease(release);
  const min = MIN_KERNEL.join('.');
  if (version === null) {
    return { id: 'kernel', status: 'warn', evidence: `cannot parse the kernel release ${JSON.stringify(release)}`, hint: `CVMs need Linux ${min} or newer; check uname -r` };
  }
  const [major, minor] = version;
  const ok = major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1]);
  return ok
    ? pass('kernel', `${release.trim()} >= ${min}`)
    : { id: 'kernel', status: 'fail', evidence: `${release.trim()} < ${min}`, hint: `CVMs need Linux ${min} or newer: upgrade the kernel (e.g. Ubuntu 20.04 or newer)` };
}

export function engineCheck(engine: { version: string } | { error: string }, dockerHost: string, place: Place): Check {
  if ('version' in engine) return pass('engine', `${dockerHost} answers: Docker ${engine.version}`);
  const hint = place === 'pod' ? 'start the engine, or check --docker-host and the hostPath mount of its socket' : 'start the engine, or check --docker-host';
  return { id: 'engine', status: 'fail', evidence: `${dockerHost}: ${engine.error}`, hint };
}

export function runtimeCheck(runtimes: string[] | null, cvmRuntime: string, cvmEnabled: boolean, allowNonSysbox: boolean): Check {
  if (cvmEnabled && !isSysboxRuntime(cvmRuntime)) {
    const evidence = `--runtime ${cvmRuntime} is not sysbox: CVMs would run without a user namespace (root inside is root on the host)`;
    if (allowNonSysbox) return { id: 'runtime', status: 'warn', evidence: `${evidence}; allowed by --allow-non-sysbox-cvm-runtime`, hint: 'use sysbox-runc' };
    return { id: 'runtime', status: 'fail', evidence, hint: 'use --runtime sysbox-runc, or --allow-non-sysbox-cvm-runtime true to accept that' };
  }
  if (runtimes === null) {
    return cvmOnly({ id: 'runtime', status: 'fail', evidence: 'the engine does not answer', hint: 'start the engine, or check --docker-host' }, cvmEnabled);
  }
  if (runtimes.includes(cvmRuntime)) return pass('runtime', `engine runtimes: ${runtimes.join(', ')}`);
  return cvmOnly(
    { id: 'runtime', status: 'fail', evidence: `engine runtimes: ${runtimes.join(', ')}`, hint: `install sysbox so that the engine lists ${cvmRuntime}` },
    cvmEnabled,
  );
}

/**
 * The host's cgroup layout, read from /sys/fs/cgroup: `2` when cgroup.controllers is there (unified), `1` when
 * controller directories are, `none` when neither; the engine's word is used when the host's /sys is not visible.
 */
export type CgroupLayout = '1' | '2' | 'none' | 'unknown';

export function cgroupCheck(layout: CgroupLayout, engineVersion: string | null): Check {
  if (layout === '1' || layout === '2') return pass('cgroup', `cgroup v${layout} (/sys/fs/cgroup)`);
  if (layout === 'none') {
    return { id: 'cgroup', status: 'fail', evidence: '/sys/fs/cgroup holds neither cgroup.controllers nor controller directories', hint: 'mount the cgroup filesystem (systemd does this at boot)' };
  }
  if (engineVersion !== null) return pass('cgroup', `cgroup v${engineVersion} (from the engine; the host's /sys/fs/cgroup is not visible)`);
  return { id: 'cgroup', status: 'warn', evidence: "unknown: the host's /sys/fs/cgroup is not visible and the engine does not answer", hint: 'mount the host /sys under --host-root' };
}

/**
 * Checks whose failure makes every CVM impossible on this node. While CVMs are enabled, serve stays unready
 * (/readyz 503) when one fails; the runtime and the engine are checked live by the readiness probe itself.
 */
const CVM_BLOCKING_CHECKS: ReadonlySet<string> = new Set([
  'kernel', 'distro', 'privileged', 'userns', 'home-storage', 'cgroup',
  // Embedded mode's own engine (embedded-checks.ts).
  'sysbox', 'embedded-storage', 'sysbox-access',
]);

/** The reasons /readyz gives for failing checks that make CVMs impossible: what is wrong and how to fix it. */
export function cvmBlockers(report: PreflightReport): string[] {
  return report.checks
    .filter((c) => c.status === 'fail' && CVM_BLOCKING_CHECKS.has(c.id))
    .map((c) => `preflight ${c.id} failed: ${c.evidence}${c.hint === null ? '' : ` (fix: ${c.hint})`}`);
}

export function assembleReport(checks: Check[]): PreflightReport {
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}
