/** FUSE, TUN and GPU devices as engine fields, for the builder and the PUT precheck. Pure. */
import type { DeviceMapping, MountSpec as EngineMount } from '../engine/types.js';
import { GpuUnsupportedError, InvalidSpecError } from '../errors.js';
import { planGpus } from '../gpu/plan.js';
import type { OsRelease } from '../image/facts.js';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';
import { enginePathOf, hostPathOf } from './host-paths.js';
import { GPU_DRIVER_LABEL } from './labels.js';
import type { NodeFacts } from './node-facts.js';
import type { BindPolicy } from './protected-paths.js';

/** FUSE and TUN; GPUs come from the GPU plan. Each device sits at the same path inside (sysbox). */
export const DEVICE_PATHS = { fuse: '/dev/fuse', tun: '/dev/net/tun' } as const;
const DEVICE_MISSING_HINT = { fuse: 'load the fuse module (modprobe fuse)', tun: 'load the tun module (modprobe tun)' } as const;

export function deviceMappings(spec: WorkspaceSpec, node: NodeFacts, cvm: boolean): DeviceMapping[] {
  const kinds = (['fuse', 'tun'] as const).filter((kind) => spec.devices?.[kind] === true);
  return kinds.map((kind) => {
    const where = `devices.${kind}`;
    const expected = DEVICE_PATHS[kind];
    const device = node.devices[kind];
    if (device === null) throw new InvalidSpecError(where, `the node has no ${expected}; ${DEVICE_MISSING_HINT[kind]}`);
    const hostPath = hostPathOf(device.path, node.hostRoot);
    if (hostPath !== expected) {
      throw new InvalidSpecError(where, `the node's device ${device.path} is not ${expected} under the host root ${node.hostRoot}`);
    }
    const enginePath = enginePathOf(hostPath, node.engineHostRoot);
    // Sysbox bind-mounts the host's node (a renamed mapping fails) and shows it as nobody:nogroup inside.
    // runc makes its own node owned by the container's real root, so neither rule applies to cvm: false.
    if (cvm) {
      const permissions = device.mode & 0o777;
      if ((permissions & 0o006) !== 0o006) {
        const octal = permissions.toString(8).padStart(4, '0');
        throw new InvalidSpecError(
          where,
          `${expected} on the host is mode ${octal}; sysbox shows it as nobody:nogroup inside, so others need rw: chmod 0666 ${expected} on the node`,
        );
      }
      if (enginePath !== expected) {
        throw new InvalidSpecError(
          where,
          `the engine sees ${expected} at ${enginePath}, but sysbox passes a device only at its host path; set --engine-host-root to /`,
        );
      }
    }
    return { PathOnHost: enginePath, PathInContainer: expected, CgroupPermissions: 'rwm' };
  });
}

export type BindNodeFacts = Pick<NodeFacts, 'engineHostRoot' | 'protectedHostPaths' | 'allowedMountRoots' | 'gpus'>;

/** The node's bind policy; the GPU driver's files its discovery found (host terms) are the binds of the daemon's own. */
export function bindPolicyOf(node: BindNodeFacts): BindPolicy {
  const facts = node.gpus?.facts;
  const driverFiles = new Set([...(facts?.libraries ?? []), ...(facts?.binaries ?? [])].map((file) => file.hostPath));
  return { protectedHostPaths: node.protectedHostPaths, driverFiles, allowedMountRoots: node.allowedMountRoots };
}

/**
 * The GPU plan as engine fields: devices at their host paths, the driver's files as read-only binds, and env.
 * For a CVM, sysbox bind-mounts a device's host node and shows it as nobody:nogroup inside: the engine must see it
 * at its host path, and others need the access the workspace opens it with. runc (cvm: false) makes its own nodes.
 */
export function gpuMappings(
  spec: WorkspaceSpec,
  node: NodeFacts,
  cvm: boolean,
  osRelease: OsRelease | null,
): { devices: DeviceMapping[]; mounts: EngineMount[]; env: Record<string, string>; driverVersion: string | null } {
  const plan = planGpus(spec, node.gpus, osRelease);
  if (plan === null) return { devices: [], mounts: [], env: {}, driverVersion: null };
  const devices = plan.devices.map((device): DeviceMapping => {
    const enginePath = enginePathOf(device.hostPath, node.engineHostRoot);
    if (cvm) {
      const needed = device.access === 'rw' ? 0o006 : 0o004;
      if ((device.mode & needed) !== needed) {
        const octal = (device.mode & 0o777).toString(8).padStart(4, '0');
        throw new GpuUnsupportedError(
          `${device.hostPath} on the host is mode ${octal}; sysbox shows it as nobody:nogroup inside, so others need ${device.access}: ` +
            'load the driver with NVreg_DeviceFileMode=0666 (or chmod the node)',
        );
      }
      if (enginePath !== device.hostPath) {
        throw new GpuUnsupportedError(
          `the engine sees ${device.hostPath} at ${enginePath}, but sysbox passes a device only at its host path; set --engine-host-root to / for GPU CVMs`,
        );
      }
    }
    return { PathOnHost: enginePath, PathInContainer: device.hostPath, CgroupPermissions: 'rwm' };
  });
  const mounts = plan.mounts.map(
    (m): EngineMount => ({ Type: 'bind', Source: enginePathOf(m.hostPath, node.engineHostRoot), Target: m.target, ReadOnly: true }),
  );
  return { devices, mounts, env: plan.env, driverVersion: node.gpus?.facts.driverVersion ?? null };
}

/**
 * Why a GPU workspace's stopped container must be made again before it starts: the node's driver is no longer the
 * one whose versioned libraries it binds (an upgrade removed them; the start would fail on a missing bind source).
 * Null when it can start as it is, also when it binds no driver or was made before GPU_DRIVER_LABEL existed.
 */
export function gpuDriverChange(labels: Readonly<Record<string, string>>, node: Pick<NodeFacts, 'gpus'>): string | null {
  const madeWith = labels[GPU_DRIVER_LABEL];
  if (madeWith === undefined) return null;
  const now = node.gpus?.facts.driverVersion ?? null;
  if (now === madeWith) return null;
  return `the node's GPU driver is ${now ?? 'gone'}, and the container binds the libraries of driver ${madeWith}`;
}
