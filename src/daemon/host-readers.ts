/**
 * The daemon's readers of its node, from the config: GPU discovery, the node facts the container-spec builder takes
 * (src/container touches no disk) and the preflight's sources. The host is read through HostFs, under --host-root.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { ResolvedMountSources } from '../container/mounts.js';
import type { DeviceNode, NodeFacts } from '../container/node-facts.js';
import type { EngineSystem } from '../engine/types.js';
import { discoverGpus } from '../gpu/discover.js';
import type { GpuNode } from '../gpu/plan.js';
import { type HostFs, NodeHostFs } from '../host/host-fs.js';
import type { PreflightConfig, PreflightSources } from '../preflight/gather.js';

async function deviceAt(host: HostFs, hostPath: string): Promise<DeviceNode | null> {
  const entry = await host.stat(hostPath);
  return entry?.type === 'char' ? { path: path.join(host.root, hostPath), mode: entry.mode } : null;
}

/** Paths that belong to the daemon and the engine, in host terms; no workspace may mount them. */
function protectedPaths(config: Config): string[] {
  const paths = [config.stateDir, config.dataRoot, config.runDir];
  if (config.tokenFile) paths.push(config.tokenFile);
  if (config.configFile) paths.push(config.configFile);
  if (config.dockerHost.startsWith('unix://')) paths.push(path.posix.dirname(new URL(config.dockerHost).pathname));
  return paths;
}

/** The admin switch and the node's GPUs, read under --host-root with the host's /usr/lib at --usr-lib-dir. */
export async function readGpuNode(config: Pick<Config, 'gpusEnabled' | 'hostRoot' | 'usrLibDir'>): Promise<GpuNode> {
  return { enabled: config.gpusEnabled, facts: await discoverGpus(new NodeHostFs(config.hostRoot, config.usrLibDir)) };
}

/** `host` is the host under --host-root (its /dev); the engine tells its runtimes. */
export async function readNodeFacts(host: HostFs, engine: Pick<EngineSystem, 'info'>, config: Config, engineHostRoot: string): Promise<NodeFacts> {
  const info = await engine.info();
  const [fuse, tun] = await Promise.all([deviceAt(host, '/dev/fuse'), deviceAt(host, '/dev/net/tun')]);
  return {
    cvmRuntime: config.runtime,
    runtimes: info.runtimes,
    cvmEnabled: config.cvmEnabled,
    network: config.network,
    hostRoot: config.hostRoot,
    engineHostRoot,
    devices: { fuse, tun },
    allowedMountRoots: config.allowedMountRoots,
    protectedHostPaths: protectedPaths(config),
    gpus: await readGpuNode(config),
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

/** What `preflight` and GET /v1/preflight read: the host under --host-root, the daemon's own files, the engine, GPUs. */
export function preflightSources(config: PreflightConfig, engine: EngineSystem): PreflightSources {
  return { host: new NodeHostFs(config.hostRoot), daemonFiles: new NodeHostFs('/'), engine, gpus: () => readGpuNode(config) };
}
