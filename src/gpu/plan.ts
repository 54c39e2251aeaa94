/**
 * What a workspace gets from the node's GPUs: a pure function of (workspace spec, GPU node facts, the image's
 * os-release). Selection follows NVIDIA_VISIBLE_DEVICES' semantics; libraries and binaries follow
 * NVIDIA_DRIVER_CAPABILITIES. The container-spec builder turns the plan into devices, mounts and env.
 */
import path from 'node:path';
import { GpuUnsupportedError, InvalidSpecError } from '../errors.js';
import type { OsRelease } from '../image/facts.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';
import { type Capability, DRIVER_FILES, parseCapabilities } from './capabilities.js';
import type { GpuDeviceNode, GpuInfo, GpuNodeFacts } from './discover.js';

export interface GpuPlan {
  gpus: GpuInfo[];
  devices: GpuDeviceNode[];
  /** Read-only bind mounts: a host file (host terms) at a path in the workspace. */
  mounts: { hostPath: string; target: string }[];
  env: Record<string, string>;
  capabilities: Capability[];
  /** gpus.libraryDir when set: not a directory the dynamic linker searches, so it goes into GPU_LD_CONF. */
  ldConfigDir: string | null;
}

/** Written into the workspace before start when the libraries go to a directory of the spec's choosing. */
export const GPU_LD_CONF = '/etc/ld.so.conf.d/cvm-supervisor-gpu.conf';

const BINARY_DIR = '/usr/bin';
const DEBIAN_LIKE = ['debian', 'ubuntu'];
const RHEL_LIKE = ['rhel', 'fedora', 'centos', 'rocky', 'almalinux', 'amzn', 'ol', 'suse', 'opensuse', 'sles'];

/** The image's library directory: Debian/Ubuntu multiarch, RHEL/Fedora/Amazon /usr/lib64, else /usr/lib. */
export function libraryDirFor(osRelease: OsRelease | null, arch: string): string {
  const ids = osRelease === null ? [] : [osRelease.id, ...osRelease.idLike];
  if (ids.some((id) => DEBIAN_LIKE.includes(id))) return `/usr/lib/${arch}-linux-gnu`;
  if (ids.some((id) => RHEL_LIKE.includes(id))) return '/usr/lib64';
  return '/usr/lib';
}

function describeGpus(gpus: readonly GpuInfo[]): string {
  return gpus.length === 0 ? 'none' : gpus.map((g) => `${g.index} (${g.uuid}, ${g.model})`).join(', ');
}

/** `all`, `none`, `void`/empty, or comma-separated indices and UUIDs. `void` means no GPU at all (null). */
function selectGpus(raw: string, gpus: readonly GpuInfo[], where: string): GpuInfo[] | null {
  const value = raw.trim();
  if (value === '' || value === 'void') return null;
  if (value === 'none') return [];
  if (value === 'all') return [...gpus];
  const selected = new Map<number, GpuInfo>();
  for (const item of value.split(',').map((s) => s.trim())) {
    if (/^MIG-/i.test(item) || /^\d+:\d+$/.test(item)) {
      throw new InvalidSpecError(where, `${item} selects a MIG instance; select whole GPUs, which bring all their MIG instances (GPUs: ${describeGpus(gpus)})`);
    }
    const gpu = /^\d+$/.test(item) ? gpus.find((g) => g.index === Number(item)) : gpus.find((g) => g.uuid.toLowerCase() === item.toLowerCase());
    if (gpu === undefined) throw new InvalidSpecError(where, `there is no GPU ${item} on this node; it has: ${describeGpus(gpus)}`);
    selected.set(gpu.index, gpu);
  }
  return [...selected.values()].sort((a, b) => a.index - b.index);
}

function selection(spec: WorkspaceSpec): { raw: string; where: string } {
  if (spec.gpus?.visibleDevices !== undefined) return { raw: spec.gpus.visibleDevices, where: 'gpus.visibleDevices' };
  const env = spec.env?.['NVIDIA_VISIBLE_DEVICES'];
  return env === undefined ? { raw: 'all', where: 'gpus.visibleDevices' } : { raw: env, where: 'env.NVIDIA_VISIBLE_DEVICES' };
}

function requestedCapabilities(spec: WorkspaceSpec): Capability[] {
  if (spec.gpus?.capabilities !== undefined) return parseCapabilities(spec.gpus.capabilities, 'gpus.capabilities');
  return parseCapabilities(spec.env?.['NVIDIA_DRIVER_CAPABILITIES'], 'env.NVIDIA_DRIVER_CAPABILITIES');
}

export interface GpuNode {
  /** The admin switch (--gpus-enabled). */
  enabled: boolean;
  facts: GpuNodeFacts;
}

/**
 * Null when the spec asks for no GPU. Throws GpuUnsupportedError when the node cannot pass GPUs, InvalidSpecError
 * for an unknown GPU or capability. `osRelease` is null before the image is known (the PUT precheck).
 */
export function planGpus(spec: WorkspaceSpec, node: GpuNode | undefined, osRelease: OsRelease | null): GpuPlan | null {
  if (spec.gpus?.enabled !== true) return null;
  if (node === undefined) throw new GpuUnsupportedError('GPU discovery did not run on this node');
  if (!node.enabled) throw new GpuUnsupportedError('GPUs are disabled on this node (--gpus-enabled false)');
  const { facts } = node;
  if (facts.unsupported !== null) throw new GpuUnsupportedError(facts.unsupported);
  const capabilities = requestedCapabilities(spec);
  const { raw, where } = selection(spec);
  const gpus = selectGpus(raw, facts.gpus, where);
  if (gpus === null) return null;

  const devices: GpuDeviceNode[] = [];
  for (const gpu of gpus) {
    if (gpu.device === null) throw new GpuUnsupportedError(`GPU ${gpu.index} (${gpu.uuid}) has no /dev/nvidia${gpu.minor} under the host root`);
    devices.push(gpu.device, ...gpu.migDevices);
  }
  devices.push(...facts.controlDevices);

  const libraryDir = spec.gpus.libraryDir ?? libraryDirFor(osRelease, facts.arch);
  const mounts: GpuPlan['mounts'] = [];
  for (const capability of capabilities) {
    const { libraries, binaries } = DRIVER_FILES[capability];
    const libs = facts.libraries.filter((f) => libraries.includes(f.base));
    if (libraries.length > 0 && libs.length === 0) {
      throw new GpuUnsupportedError(
        `no ${capability} library of driver ${facts.driverVersion ?? '?'} (${libraries.slice(0, 3).join('.so, ')}.so, ...) in ${facts.libraryDirs.join(', ')} on the host; ` +
          "mount the host's library directory under the host root, or set CODER_USR_LIB_DIR",
      );
    }
    for (const lib of libs) for (const name of lib.names) mounts.push({ hostPath: lib.hostPath, target: path.posix.join(libraryDir, name) });
    for (const bin of facts.binaries.filter((f) => binaries.includes(f.base))) mounts.push({ hostPath: bin.hostPath, target: path.posix.join(BINARY_DIR, bin.base) });
  }
  const env = {
    NVIDIA_VISIBLE_DEVICES: gpus.length === 0 ? 'none' : gpus.map((g) => g.uuid).join(','),
    NVIDIA_DRIVER_CAPABILITIES: capabilities.join(','),
  };
  return { gpus, devices, mounts, env, capabilities, ldConfigDir: spec.gpus.libraryDir ?? null };
}
