/**
 * Gathers NodeFacts (the pure builder's view of the node) from the engine, the host root and the config.
 * Device modes and mount sources are read here, under --host-root; the container-spec builder (src/container) touches no disk.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { Engine } from '../engine/types.js';
import { discoverGpus } from '../gpu/discover.js';
import type { GpuNode } from '../gpu/plan.js';
import { NodeHostFs } from './host-fs.js';
import type { ResolvedMountSources } from '../container/mounts.js';
import type { DeviceNode, NodeFacts } from '../container/node-facts.js';

async function deviceAt(file: string): Promise<DeviceNode | null> {
  try {
    const st = await stat(file);
    return st.isCharacterDevice() ? { path: file, mode: st.mode & 0o7777 } : null;
  } catch {
    return null;
  }
}

/** Paths that belong to the daemon and the engine, in host terms; no workspace may mount them. */
function protectedPaths(config: Config): string[] {
  const paths = [config.stateDir, config.dataRoot, config.runDir];
  if (config.tokenFile) paths.push(config.tokenFile);
  if (config.configFile) paths.push(config.configFile);
  if (config.dockerHost.startsWith('unix://')) paths.push(path.posix.dirname(new URL(config.dockerHost).pathname));
  return paths;
}

/** The admin switch and the node's GPUs, read under --host-root (and --usr-lib-dir). */
export async function readGpuNode(config: Pick<Config, 'gpusEnabled' | 'hostRoot' | 'usrLibDir'>): Promise<GpuNode> {
  return { enabled: config.gpusEnabled, facts: await discoverGpus(new NodeHostFs(config.hostRoot, config.usrLibDir)) };
}

export async function readNodeFacts(engine: Engine, config: Config, engineHostRoot: string): Promise<NodeFacts> {
  const info = await engine.info();
  const [fuse, tun] = await Promise.all([
    deviceAt(path.join(config.hostRoot, 'dev/fuse')),
    deviceAt(path.join(config.hostRoot, 'dev/net/tun')),
  ]);
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
export async function resolveMountSources(hostRoot: string, sources: readonly string[]): Promise<ResolvedMountSources> {
  const resolved = new Map<string, string>();
  await Promise.all(
    sources.map(async (source) => {
      try {
        resolved.set(source, await realpath(path.join(hostRoot, source)));
      } catch {
        // Missing: planUserMounts reports it.
      }
    }),
  );
  return resolved;
}
