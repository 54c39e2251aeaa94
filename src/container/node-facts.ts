/**
 * What the container-spec builder needs to know about the node. Gathering these facts (engine /info, the host's
 * device nodes, config) is I/O and happens elsewhere (daemon/); this file only defines them. Paths come in the three
 * spellings of host-paths.ts.
 */
import type { GpuNode } from '../gpu/plan.js';

/** A device node on the host. `path` is in the daemon's view (under hostRoot). */
export interface DeviceNode {
  path: string;
  /** st_mode permission bits (e.g. 0o666); type bits are ignored. */
  mode: number;
}

export interface NodeFacts {
  /** The runtime CVMs use (`--runtime`, normally DEFAULT_CVM_RUNTIME). */
  cvmRuntime: string;
  /** The runtimes the engine's GET /info lists. */
  runtimes: string[];
  /** The admin switch (`--cvm-enabled`). */
  cvmEnabled: boolean;
  /** The engine network workspaces join (`--network`). */
  network: string;
  /** Where the daemon sees the host's root (`--host-root`). */
  hostRoot: string;
  /** Where the engine sees the host's root (`--engine-host-root`). */
  engineHostRoot: string;
  devices: { fuse: DeviceNode | null; tun: DeviceNode | null };
  /** Host roots (host terms) under which user bind mounts may lie; empty refuses every user mount. */
  allowedMountRoots: string[];
  /**
   * The daemon's own files and the engine's state, in host terms: the state dir, the token file, the engine's
   * data root, a non-standard engine socket. No mount may expose them or a directory containing them.
   */
  protectedHostPaths: string[];
  /** The admin switch and what GPU discovery found; absent when discovery did not run (GPU requests are refused). */
  gpus?: GpuNode;
}
