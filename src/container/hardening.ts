/** The inner container's hardening policy, apart from the builder so that it reads and reviews on its own. */
import type { ContainerCreateSpec } from '../engine/types.js';
import { type BindNodeFacts, bindPolicyOf, DEVICE_PATHS } from './device-mappings.js';
import { hostPathOf } from './host-paths.js';
import { bindSourceViolation } from './protected-paths.js';

/** A built spec broke a safety rule. Always a bug or a hostile node config: nothing reaches the engine. */
export class UnsafeSpecError extends Error {
  constructor(readonly violation: string) {
    super(`unsafe container spec: ${violation}`);
    this.name = 'UnsafeSpecError';
  }
}

const NAMESPACE_MODES = ['NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UtsMode', 'UsernsMode'] as const;
/**
 * Fields that would widen what the workspace may do; the builder never sets them. `SecurityOpt` as a whole, so
 * neither `seccomp=unconfined` nor `apparmor=unconfined` (nor `label=disable`) can slip in; `Capabilities` replaces
 * the whole capability set (API 1.40+), so it is refused like CapAdd.
 */
const FORBIDDEN_HOST_CONFIG = ['Binds', 'VolumesFrom', 'CapAdd', 'Capabilities', 'SecurityOpt', 'DeviceCgroupRules', 'DeviceRequests'] as const;
const ALLOWED_DEVICES: ReadonlySet<string> = new Set(Object.values(DEVICE_PATHS));
const ALLOWED_MOUNT_TYPES: ReadonlySet<string> = new Set(['bind', 'volume', 'tmpfs']);
/** NVIDIA's device nodes, admitted by name: GPUs, control, modeset, UVM and MIG capabilities. */
const NVIDIA_DEVICE = /^\/dev\/(nvidia\d+|nvidiactl|nvidia-modeset|nvidia-uvm|nvidia-uvm-tools|nvidia-caps\/nvidia-cap\d+)$/;

/**
 * The hardening policy of the inner container, the last line of defence, run on every built spec (and, in the
 * integration tests, on the engine's own inspect document):
 * - never Privileged; no host (or another container's) network, pid, ipc, uts or user namespace;
 * - no CapAdd or Capabilities (sysbox needs none: it grants capabilities inside its own user namespace);
 * - no SecurityOpt at all, so no seccomp=unconfined or apparmor=unconfined;
 * - no Binds/VolumesFrom; bind sources only under an allowed mount root and in no protected path
 *   (protected-paths.ts: the engine socket, /proc, /sys, /dev, /, the engine's data, the daemon's own files, ...),
 *   or the GPU driver's files, read-only; no mount propagation back to the host; no volume driver options (a
 *   `local` volume with `o=bind` is a bind mount in disguise);
 * - no devices except the whitelisted FUSE, TUN and NVIDIA nodes at their host paths; no DeviceRequests or cgroup rules.
 *
 * no-new-privileges is deliberately not set (and SecurityOpt is refused, so it cannot be set): a workspace is a VM
 * to its user, whose sudo, su, ping, newuidmap and the inner Docker's setuid helpers need setuid to work. Under
 * sysbox the container's root is already an unprivileged host uid (user namespace), so setuid inside reaches only
 * that root, which PID 1 already is (API.md); the flag would draw a line the product promises not to draw. For a
 * standard workspace (runc, no user namespace) PID 1 is root inside too, so the flag would not change who is root.
 * It reads HostConfig as a plain record because the engine adapter passes the body through unchanged, fields the
 * type lacks included.
 */
export function assertSafe(spec: ContainerCreateSpec, node: BindNodeFacts): void {
  const host = spec.HostConfig as Record<string, unknown>;
  if (host['Privileged'] !== undefined && host['Privileged'] !== false) throw new UnsafeSpecError('Privileged is set');
  for (const field of NAMESPACE_MODES) {
    const mode = host[field];
    if (typeof mode === 'string' && (mode === 'host' || mode.startsWith('container:'))) {
      throw new UnsafeSpecError(`${field} is ${mode}`);
    }
  }
  for (const field of FORBIDDEN_HOST_CONFIG) {
    const value = host[field];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) {
      throw new UnsafeSpecError(`${field} is set`);
    }
  }
  const policy = bindPolicyOf(node);
  for (const mount of spec.HostConfig.Mounts ?? []) {
    mountViolation(mount as unknown as Record<string, unknown>);
    if (mount.Type !== 'bind') continue;
    const hostPath = hostPathOf(mount.Source ?? '', node.engineHostRoot);
    if (hostPath === null) throw new UnsafeSpecError(`bind source ${mount.Source ?? '(none)'} lies outside the engine's host root`);
    const reason = bindSourceViolation({ hostPath, readOnly: mount.ReadOnly === true }, policy);
    if (reason !== null) throw new UnsafeSpecError(`bind source ${hostPath}: ${reason}`);
  }
  for (const device of spec.HostConfig.Devices ?? []) {
    const onHost = hostPathOf(device.PathOnHost, node.engineHostRoot);
    const known = ALLOWED_DEVICES.has(device.PathInContainer) || NVIDIA_DEVICE.test(device.PathInContainer);
    if (!known || onHost !== device.PathInContainer) {
      throw new UnsafeSpecError(`device ${device.PathOnHost} → ${device.PathInContainer} is not allowed`);
    }
  }
}

/** Mount fields that would reach past the mount itself: propagation to the host, volume driver options. */
function mountViolation(mount: Record<string, unknown>): void {
  const type = String(mount['Type']);
  if (!ALLOWED_MOUNT_TYPES.has(type)) throw new UnsafeSpecError(`mount type ${type} is not allowed`);
  const propagation = (mount['BindOptions'] as { Propagation?: unknown } | undefined)?.Propagation;
  if (propagation !== undefined && propagation !== '' && propagation !== 'rprivate' && propagation !== 'private') {
    throw new UnsafeSpecError(`bind propagation ${JSON.stringify(propagation)} is not allowed`);
  }
  const driverConfig = (mount['VolumeOptions'] as { DriverConfig?: unknown } | undefined)?.DriverConfig;
  if (driverConfig !== undefined && driverConfig !== null) {
    throw new UnsafeSpecError(`volume driver options are not allowed (target ${String(mount['Target'])})`);
  }
}
