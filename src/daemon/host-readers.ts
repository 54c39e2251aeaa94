/**
 * The daemon's readers of its node, from the config: GPU discovery, the node facts the container-spec builder takes
 * (src/container touches no disk) and the preflight's sources. The host is read through HostFs, under --host-root.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { hostPathOf, hostPathsOfDaemonPath, normalisePath } from '../container/host-paths.js';
import type { ResolvedMountSources } from '../container/mounts.js';
import type { DeviceNode, NodeFacts } from '../container/node-facts.js';
import { childEnvironment } from '../engine/embedded-plan.js';
import type { EngineSystem } from '../engine/types.js';
import { discoverGpus } from '../gpu/discover.js';
import type { GpuNode } from '../gpu/plan.js';
import { type HostFs, NodeHostFs } from '../host/host-fs.js';
import { parseMountInfo } from '../host/mountinfo.js';
import { type PreflightConfig, type PreflightSources, runPreflight } from '../preflight/gather.js';
import type { Place } from '../preflight/place.js';
import type { PreflightReport } from '../preflight/report.js';

async function deviceAt(host: HostFs, hostPath: string): Promise<DeviceNode | null> {
  const entry = await host.stat(hostPath);
  return entry?.type === 'char' ? { path: path.join(host.root, hostPath), mode: entry.mode } : null;
}

/** The daemon's own files and embedded mode's engine and sysbox, in the daemon's view. */
function daemonFiles(config: Config): string[] {
  const paths = [config.stateDir, config.dataRoot, config.sysboxDataRoot, config.runDir];
  if (config.tokenFile) paths.push(config.tokenFile);
  if (config.configFile) paths.push(config.configFile);
  if (config.dockerHost.startsWith('unix://')) paths.push(path.posix.dirname(new URL(config.dockerHost).pathname));
  return paths;
}

/** The node's files: the host under --host-root, and the daemon's own (under `/`). */
export interface NodeFiles {
  host: HostFs;
  daemonFiles: HostFs;
}

/**
 * Paths in the daemon's view, in host terms: each as the daemon names it (a hostPath at the same path, the usual
 * layout) and wherever the mount tables place it on the host (see hostPathsOfDaemonPath).
 */
async function inHostTerms(daemonPaths: readonly string[], hostRoot: string, files: NodeFiles): Promise<string[]> {
  const [own, host] = await Promise.all([files.daemonFiles.readText('/proc/self/mountinfo'), files.host.readText('/proc/1/mountinfo')]);
  const tables = { own: parseMountInfo(own ?? ''), host: parseMountInfo(host ?? '') };
  const paths = await Promise.all(
    daemonPaths.map(async (p) => {
      const real = (await files.daemonFiles.realpath(p)) ?? p;
      return [p, real, ...hostPathsOfDaemonPath(real, hostRoot, tables)];
    }),
  );
  return [...new Set(paths.flat())];
}

/** The daemon's own files in host terms: no workspace may mount them, and no allowed mount root may contain them. */
export function readDaemonFilesInHostTerms(config: Config, files: NodeFiles): Promise<string[]> {
  return inHostTerms(daemonFiles(config), config.hostRoot, files);
}

/**
 * The daemon's own files and the engine's data root as the engine reports it (`DockerRootDir`), in host terms. In
 * embedded mode (both host roots equal) the engine shares the daemon's mount namespace, so its root is in the
 * daemon's view too.
 */
async function protectedHostPaths(config: Config, dockerRootDir: string | undefined, engineHostRoot: string, files: NodeFiles): Promise<string[]> {
  const sharedView = normalisePath(engineHostRoot) === normalisePath(config.hostRoot);
  const daemonView = [...daemonFiles(config), ...(dockerRootDir !== undefined && sharedView ? [dockerRootDir] : [])];
  const engineRoot = dockerRootDir === undefined ? [] : [hostPathOf(dockerRootDir, engineHostRoot) ?? dockerRootDir];
  return [...new Set([...engineRoot, ...(await inHostTerms(daemonView, config.hostRoot, files))])];
}

/** The admin switch and the node's GPUs, read under --host-root with the host's /usr/lib at --usr-lib-dir. */
export async function readGpuNode(config: Pick<Config, 'gpusEnabled' | 'hostRoot' | 'usrLibDir'>): Promise<GpuNode> {
  return { enabled: config.gpusEnabled, facts: await discoverGpus(new NodeHostFs(config.hostRoot, config.usrLibDir)) };
}

/** The host's /dev under --host-root, the daemon's files and the engine's runtimes and data root. */
export async function readNodeFacts(files: NodeFiles, engine: Pick<EngineSystem, 'info'>, config: Config, engineHostRoot: string): Promise<NodeFacts> {
  // Read side by side: every PUT reads them twice (its precheck, then its create), and the mount tables grow with
  // each running container.
  const info = engine.info();
  const [{ runtimes }, fuse, tun, protectedPaths, gpus] = await Promise.all([
    info,
    deviceAt(files.host, '/dev/fuse'),
    deviceAt(files.host, '/dev/net/tun'),
    info.then((i) => protectedHostPaths(config, i.dockerRootDir, engineHostRoot, files)),
    readGpuNode(config),
  ]);
  return {
    cvmRuntime: config.runtime,
    runtimes,
    cvmEnabled: config.cvmEnabled,
    network: config.network,
    hostRoot: config.hostRoot,
    engineHostRoot,
    devices: { fuse, tun },
    allowedMountRoots: config.allowedMountRoots,
    protectedHostPaths: protectedPaths,
    gpus,
  };
}

/**
 * realpath() of each mount source under the host root. A source that does not exist is left out, so the builder
 * refuses it by name. Absolute symlinks on the host resolve against the daemon's own root; with a host root other
 * than `/` such a link lands outside it and is refused (fails closed).
 */
export async function resolveMountSources(host: HostFs, sources: readonly string[]): Promise<ResolvedMountSources> {
  const resolved = new Map<string, string>();
  await Promise.all(
    sources.map(async (source) => {
      const realPath = await host.realpath(source);
      // Missing: planUserMounts reports it.
      if (realPath !== null) resolved.set(source, realPath);
    }),
  );
  return resolved;
}

export function nodeFiles(config: Pick<Config, 'hostRoot'>): NodeFiles {
  return { host: new NodeHostFs(config.hostRoot), daemonFiles: new NodeHostFs('/') };
}

/** What `preflight` and GET /v1/preflight read: the host under --host-root, the daemon's own files, the engine, GPUs. */
export function preflightSources(config: PreflightConfig, engine: EngineSystem, context: Pick<PreflightSources, 'place' | 'ownEngine'>): PreflightSources {
  return {
    ...nodeFiles(config),
    engine,
    gpus: () => readGpuNode(config),
    searchPath: childEnvironment(process.env)['PATH'] ?? '',
    ...context,
  };
}

export interface DaemonPreflightOptions {
  mode: 'host' | 'embedded';
  /** The endpoint of the engine in use: --docker-host, or embedded mode's RUN-DIR/docker.sock. */
  engineHost: string;
  place: Place;
}

/** The preflight of a running daemon (serve's start, GET /v1/preflight): it checks the engine the daemon uses. */
export function daemonPreflight(config: Config, engine: EngineSystem, options: Partial<DaemonPreflightOptions> = {}): () => Promise<PreflightReport> {
  const checked = { ...config, engine: options.mode ?? 'host', dockerHost: options.engineHost ?? config.dockerHost };
  const sources = preflightSources(checked, engine, { place: options.place ?? 'machine', ownEngine: 'live' });
  return () => runPreflight(sources, checked);
}
