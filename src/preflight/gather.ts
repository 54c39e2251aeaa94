/**
 * Runs the preflight: reads the host through HostFs (under --host-root) and asks the engine, then hands the facts to
 * the pure checks. Used by `cvm-supervisor preflight`, by `serve` at start and by GET /v1/preflight.
 */
import path from 'node:path';
import { type Config, isSysboxRuntime } from '../config/schema.js';
import type { EngineInfo, EngineSystem } from '../engine/types.js';
import type { GpuNode } from '../gpu/plan.js';
import type { HostFs } from '../host/host-fs.js';
import {
  ENGINE_PROGRAMS,
  type EmbeddedProgram,
  embeddedEngineCheck,
  embeddedStorageCheck,
  type FoundPrograms,
  SYSBOX_INSTALL_HINT,
  SYSBOX_PROGRAMS,
  sysboxAccessCheck,
  sysboxCheck,
} from './embedded-checks.js';
import { gpuCheck } from './gpu-check.js';
import { distroCheck, type ExpectedMount, hostMountsCheck, privilegedCheck, userNamespacesCheck } from './node-checks.js';
import type { Place } from './place.js';
import { assembleReport, type CgroupLayout, type Check, cgroupCheck, cvmOnly, engineCheck, kernelCheck, pass, type PreflightReport, runtimeCheck } from './report.js';
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
  /** In a pod or on a machine of its own: which advice fits. */
  place: Place;
  /** The daemon's PATH, where embedded mode finds dockerd and sysbox. */
  searchPath: string;
  /** Embedded mode: `live` in serve (its own engine runs), `not-started` for the CLI (serve would start it). */
  ownEngine: 'live' | 'not-started';
}

/** `engine` is the mode in use (`auto` resolved), and `dockerHost` the endpoint of the engine in use. */
export type PreflightConfig = Pick<
  Config,
  'hostRoot' | 'dockerHost' | 'runtime' | 'allowNonSysboxCvmRuntime' | 'cvmEnabled' | 'gpusEnabled' | 'dataRoot' | 'sysboxDataRoot' | 'usrLibDir'
> & { engine: 'host' | 'embedded' };

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
  // Embedded mode makes its socket and data root itself (its storage is the embedded-storage check).
  if (config.engine === 'host' && config.dockerHost.startsWith('unix://')) {
    wanted.unshift({ what: 'the engine socket', path: new URL(config.dockerHost).pathname, required: true });
  }
  return Promise.all(wanted.map(async (m) => ({ ...m, present: (await daemonFiles.stat(m.path)) !== null })));
}

async function findPrograms(daemonFiles: HostFs, searchPath: string): Promise<FoundPrograms> {
  const dirs = searchPath.split(':').filter(Boolean);
  const find = async (name: EmbeddedProgram): Promise<[EmbeddedProgram, string | null]> => {
    for (const dir of dirs) {
      const entry = await daemonFiles.stat(path.join(dir, name));
      if (entry?.type === 'file' && (entry.mode & 0o111) !== 0) return [name, path.join(dir, name)];
    }
    return [name, null];
  };
  return Object.fromEntries(await Promise.all([...ENGINE_PROGRAMS, ...SYSBOX_PROGRAMS].map(find))) as FoundPrograms;
}

/** Embedded mode's own checks, from the daemon's own files. */
async function embeddedChecks(sources: PreflightSources, config: PreflightConfig, status: string | null): Promise<{ checks: Check[]; programs: FoundPrograms; mounts: string | null }> {
  const [programs, mounts, fuse] = await Promise.all([
    findPrograms(sources.daemonFiles, sources.searchPath),
    sources.daemonFiles.readText('/proc/self/mounts'),
    sources.daemonFiles.stat('/dev/fuse'),
  ]);
  const cvm = config.cvmEnabled;
  const checks = [
    embeddedEngineCheck(programs, sources.searchPath, status, sources.place),
    sysboxCheck(programs, sources.searchPath, cvm),
    embeddedStorageCheck(config.dataRoot, config.sysboxDataRoot, mounts, cvm),
    sysboxAccessCheck(mounts, fuse, cvm, sources.place),
  ];
  return { checks, programs, mounts };
}

/** Before serve has started its own engine: what it would register, from the programs it would run. */
function plannedRuntimeCheck(programs: FoundPrograms, config: PreflightConfig): Check {
  if (programs['sysbox-runc'] !== null) return pass('runtime', `serve --engine embedded registers ${config.runtime}=${programs['sysbox-runc']}`);
  return cvmOnly({ id: 'runtime', status: 'fail', evidence: `serve --engine embedded would have no ${config.runtime}: sysbox-runc is not on PATH`, hint: SYSBOX_INSTALL_HINT }, config.cvmEnabled);
}

export async function runPreflight(sources: PreflightSources, config: PreflightConfig): Promise<PreflightReport> {
  const read = (hostPath: string): Promise<string | null> => sources.host.readText(hostPath);
  const [info, kernel, osRelease, usrOsRelease, status, userns, hostMountTable, tcp, tcp6, gpus, layout, hostMounts] = await Promise.all([
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
  const embedded = config.engine === 'embedded' ? await embeddedChecks(sources, config, status) : null;
  const notStarted = embedded !== null && sources.ownEngine === 'not-started' && engineInfo === null;
  const engine = notStarted
    ? pass('engine', `no engine runs at ${config.dockerHost} yet: serve --engine embedded starts its own dockerd there`)
    : engineCheck(engineInfo ? { version: engineInfo.serverVersion } : { error: 'error' in info ? info.error : 'no answer' }, config.dockerHost, sources.place);
  const runtime =
    notStarted && isSysboxRuntime(config.runtime)
      ? plannedRuntimeCheck(embedded.programs, config)
      : runtimeCheck(engineInfo?.runtimes ?? null, config.runtime, cvm, config.allowNonSysboxCvmRuntime);
  // Embedded mode's storage is in the daemon's own mount namespace; the node's engine keeps its own on the host.
  const storage = embedded === null ? homeStorageCheck(engineInfo?.dockerRootDir ?? '/var/lib/docker', hostMountTable) : homeStorageCheck(config.dataRoot, embedded.mounts);
  const checks = [
    cvmOnly(kernelCheck(kernel ?? engineInfo?.kernelVersion ?? ''), cvm),
    cvmOnly(distroCheck(osRelease ?? usrOsRelease), cvm),
    cvmOnly(cgroupCheck(layout, engineInfo?.cgroupVersion ?? null), cvm),
    privilegedCheck(status, config.engine, sources.place),
    hostMountsCheck(hostMounts, sources.place),
    engine,
    runtime,
    cvmOnly(userNamespacesCheck(userns), cvm),
    cvmOnly(storage, cvm),
    ...(embedded?.checks ?? []),
    istioCheck([tcp, tcp6], sources.place),
    gpuCheck(gpus),
  ];
  return assembleReport(checks);
}
