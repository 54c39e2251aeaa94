/**
 * Runs the preflight: reads the host through HostFs (under --host-root) and asks the engine, then hands the facts to
 * the pure checks. Used by `cvm-supervisor preflight`, by `serve` at start and by GET /v1/preflight.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { EngineInfo, EngineSystem } from '../engine/types.js';
import type { GpuNode } from '../gpu/plan.js';
import type { HostFs } from '../host/host-fs.js';
import { gpuCheck } from './gpu-check.js';
import { distroCheck, type ExpectedMount, hostMountsCheck, privilegedCheck, userNamespacesCheck } from './node-checks.js';
import { assembleReport, type CgroupLayout, cgroupCheck, cvmOnly, engineCheck, kernelCheck, type PreflightReport, runtimeCheck } from './report.js';
import { istioCheck } from './sidecars.js';
import { homeStorageCheck } from './storage.js';

export interface PreflightSources {
  /** The host's files, under --host-root. */
  host: HostFs;
  /** The daemon's own files, where the host's mounts, the engine socket and the embedded data root must be. */
  daemonFiles: HostFs;
  engine: EngineSystem;
  /** GPU discovery, which reads the same host with its own, library-aware view (--usr-lib-dir). */
  gpus: () => Promise<GpuNode>;
}

export type PreflightConfig = Pick<
  Config,
  'hostRoot' | 'dockerHost' | 'engine' | 'runtime' | 'allowNonSysboxCvmRuntime' | 'cvmEnabled' | 'gpusEnabled' | 'dataRoot' | 'usrLibDir'
>;

const ENGINE_TIMEOUT_MS = 3000;

async function engineFacts(engine: EngineSystem): Promise<EngineInfo | { error: string }> {
  try {
    await engine.ping(ENGINE_TIMEOUT_MS);
    return await engine.info();
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

async function cgroupLayout(host: HostFs): Promise<CgroupLayout> {
  const entries = await host.readdir('/sys/fs/cgroup');
  if (entries === null) return 'unknown';
  if (entries.includes('cgroup.controllers')) return '2';
  return ['cpu', 'memory', 'pids', 'devices'].some((c) => entries.includes(c)) ? '1' : 'none';
}

/** The hostPath mounts the daemon needs, each checked at its path in the daemon's own file system. */
async function expectedMounts(daemonFiles: HostFs, config: PreflightConfig): Promise<ExpectedMount[]> {
  const under = (p: string): string => path.join(config.hostRoot, p);
  const wanted: Omit<ExpectedMount, 'present'>[] = [
    { what: "the host's /proc", path: under('proc/1'), required: false },
    { what: "the host's /sys", path: under('sys/fs/cgroup'), required: false },
    { what: "the host's /dev", path: under('dev'), required: false },
  ];
  if (config.engine !== 'embedded' && config.dockerHost.startsWith('unix://')) {
    wanted.unshift({ what: 'the engine socket', path: new URL(config.dockerHost).pathname, required: true });
  }
  if (config.engine === 'embedded') wanted.unshift({ what: 'the engine data root', path: config.dataRoot, required: true });
  return Promise.all(wanted.map(async (m) => ({ ...m, present: (await daemonFiles.stat(m.path)) !== null })));
}

export async function runPreflight(sources: PreflightSources, config: PreflightConfig): Promise<PreflightReport> {
  const read = (hostPath: string): Promise<string | null> => sources.host.readText(hostPath);
  const [info, kernel, osRelease, usrOsRelease, status, userns, mounts, tcp, tcp6, gpus, layout, hostMounts] = await Promise.all([
    engineFacts(sources.engine),
    read('/proc/sys/kernel/osrelease'),
    read('/etc/os-release'),
    read('/usr/lib/os-release'),
    read('/proc/self/status'),
    read('/proc/sys/user/max_user_namespaces'),
    read('/proc/1/mounts'),
    read('/proc/self/net/tcp'),
    read('/proc/self/net/tcp6'),
    sources.gpus(),
    cgroupLayout(sources.host),
    expectedMounts(sources.daemonFiles, config),
  ]);
  const engineInfo = 'error' in info ? null : info;
  const cvm = config.cvmEnabled;
  const checks = [
    cvmOnly(kernelCheck(kernel ?? engineInfo?.kernelVersion ?? ''), cvm),
    cvmOnly(distroCheck(osRelease ?? usrOsRelease), cvm),
    cvmOnly(cgroupCheck(layout, engineInfo?.cgroupVersion ?? null), cvm),
    privilegedCheck(status, config.engine),
    hostMountsCheck(hostMounts),
    engineCheck(engineInfo ? { version: engineInfo.serverVersion } : { error: 'error' in info ? info.error : 'no answer' }, config.dockerHost),
    runtimeCheck(engineInfo?.runtimes ?? null, config.runtime, cvm, config.allowNonSysboxCvmRuntime),
    cvmOnly(userNamespacesCheck(userns), cvm),
    cvmOnly(homeStorageCheck(config.engine === 'embedded' ? config.dataRoot : (engineInfo?.dockerRootDir ?? config.dataRoot), mounts), cvm),
    istioCheck([tcp, tcp6]),
    gpuCheck(gpus),
  ];
  return assembleReport(checks);
}
