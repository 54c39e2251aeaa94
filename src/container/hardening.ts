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

/**
 * Modes that would share a namespace (or the cgroup) with the node (`host`) or another container (`container:ID`).
 * The engine compares these values exactly; they are compared here ignoring case, which refuses more, never less.
 * CgroupnsMode is not among them: `host` is the engine's own default on cgroup v1 (and what it reports on every
 * container there), and sysbox gives a CVM its own cgroup namespace whatever the field says.
 */
const SHARING_MODES = ['NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UsernsMode', 'Cgroup'] as const;
/**
 * Fields that would widen what the workspace may do; the builder never sets them. `VolumesFrom` mounts another
 * container's volumes (the supervisor's own included). `SecurityOpt` as a whole, so neither `seccomp=unconfined`
 * nor `apparmor=unconfined` (nor `label=disable`) can slip in; `Capabilities` replaces the whole capability set
 * (API 1.40+), so it is refused like CapAdd.
 */
const FORBIDDEN_HOST_CONFIG = ['Binds', 'VolumesFrom', 'CapAdd', 'Capabilities', 'SecurityOpt', 'DeviceCgroupRules', 'DeviceRequests'] as const;
const ALLOWED_DEVICES: ReadonlySet<string> = new Set(Object.values(DEVICE_PATHS));
const ALLOWED_MOUNT_TYPES: ReadonlySet<string> = new Set(['bind', 'volume', 'tmpfs']);
/** Propagation that stays inside the mount: `rslave`/`slave` would carry the host's mounts in, `rshared`/`shared` both ways. */
const ALLOWED_PROPAGATION: ReadonlySet<unknown> = new Set([undefined, '', 'rprivate', 'private']);
/** NVIDIA's device nodes, admitted by name: GPUs, control, modeset, UVM and MIG capabilities. */
const NVIDIA_DEVICE = /^\/dev\/(nvidia\d+|nvidiactl|nvidia-modeset|nvidia-uvm|nvidia-uvm-tools|nvidia-caps\/nvidia-cap\d+)$/;

/**
 * An object of the create body read as the engine reads it: Go's encoding/json matches field names ignoring case
 * and lets a later duplicate win, so `pidmode`, `PIDMODE` and `PidMode` are one field to the engine (checked on the
 * engine: a lowercase `pidmode: host` and a second top-level `hostconfig` both take effect). Two spellings of one
 * field are refused outright; a single one is found under any spelling.
 */
class EngineFields {
  private readonly byFolded = new Map<string, unknown>();

  constructor(value: unknown, where: string) {
    const record = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
    const spelling = new Map<string, string>();
    for (const [key, field] of Object.entries(record)) {
      const folded = key.toLowerCase();
      const first = spelling.get(folded);
      if (first !== undefined) throw new UnsafeSpecError(`${where} has ${first} more than once (${key})`);
      spelling.set(folded, key);
      this.byFolded.set(folded, field);
    }
  }

  get(name: string): unknown {
    return this.byFolded.get(name.toLowerCase());
  }

  /** The field as text for a path or a message; anything but a string is shown as JSON, never passed as a path. */
  text(name: string): string {
    const value = this.get(name);
    if (value === undefined) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  list(name: string): unknown[] {
    const value = this.get(name);
    return Array.isArray(value) ? value : [];
  }
}

/**
 * The hardening policy of the inner container, the last line of defence, run on every built spec (and, in the
 * integration tests, on the engine's own inspect document). It refuses:
 * - Privileged;
 * - a network, pid, ipc, uts or user namespace of the host (`host`) or of another container (`container:…`), or
 *   another container's cgroup: NetworkMode, PidMode, IpcMode, UTSMode, UsernsMode, Cgroup;
 * - CapAdd or Capabilities (sysbox needs none: it grants capabilities inside its own user namespace);
 * - SecurityOpt at all, so no seccomp=unconfined or apparmor=unconfined;
 * - Binds and VolumesFrom; bind sources outside an allowed mount root or in a protected path (protected-paths.ts:
 *   the engine socket, /proc, /sys, /dev, /, the engine's data, the daemon's own files, ...) other than the GPU
 *   driver's files, read-only; bind propagation other than private (`rslave`, `rshared`, `slave`, `shared`);
 *   volume driver options (a `local` volume with `o=bind` is a bind mount in disguise);
 * - devices other than the whitelisted FUSE, TUN and NVIDIA nodes at their host paths; DeviceRequests or cgroup rules;
 * - any of these fields spelt twice, or under another case (the engine's JSON decoding ignores case).
 *
 * no-new-privileges is deliberately not set (and SecurityOpt is refused, so it cannot be set): a workspace is a VM
 * to its user, whose sudo, su, ping, newuidmap and the inner Docker's setuid helpers need setuid to work. Under
 * sysbox the container's root is already an unprivileged host uid (user namespace), so setuid inside reaches only
 * that root, which PID 1 already is (API.md); the flag would draw a line the product promises not to draw. For a
 * standard workspace (runc, no user namespace) PID 1 is root inside too, so the flag would not change who is root.
 * It reads the body as plain records because the engine adapter passes it through unchanged, fields the type lacks
 * included.
 */
export function assertSafe(spec: ContainerCreateSpec, node: BindNodeFacts): void {
  const body = new EngineFields(spec, 'the create body');
  const host = new EngineFields(body.get('HostConfig'), 'HostConfig');
  const privileged = host.get('Privileged');
  if (privileged !== undefined && privileged !== false) throw new UnsafeSpecError('Privileged is set');
  for (const field of SHARING_MODES) {
    const mode = host.get(field);
    if (typeof mode !== 'string') continue;
    const folded = mode.toLowerCase();
    if (folded === 'host' || folded.startsWith('container:')) throw new UnsafeSpecError(`${field} is ${mode}`);
  }
  for (const field of FORBIDDEN_HOST_CONFIG) {
    const value = host.get(field);
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) {
      throw new UnsafeSpecError(`${field} is set`);
    }
  }
  const policy = bindPolicyOf(node);
  for (const entry of host.list('Mounts')) {
    const mount = new EngineFields(entry, 'a mount');
    mountViolation(mount);
    if (mount.get('Type') !== 'bind') continue;
    const source = mount.text('Source');
    const hostPath = hostPathOf(source, node.engineHostRoot);
    if (hostPath === null) throw new UnsafeSpecError(`bind source ${source || '(none)'} lies outside the engine's host root`);
    const reason = bindSourceViolation({ hostPath, readOnly: mount.get('ReadOnly') === true }, policy);
    if (reason !== null) throw new UnsafeSpecError(`bind source ${hostPath}: ${reason}`);
  }
  for (const entry of host.list('Devices')) {
    const device = new EngineFields(entry, 'a device');
    const onHost = device.text('PathOnHost');
    const inContainer = device.text('PathInContainer');
    const known = ALLOWED_DEVICES.has(inContainer) || NVIDIA_DEVICE.test(inContainer);
    if (!known || hostPathOf(onHost, node.engineHostRoot) !== inContainer) {
      throw new UnsafeSpecError(`device ${onHost} → ${inContainer} is not allowed`);
    }
  }
}

/** Mount fields that would reach past the mount itself: propagation to or from the host, volume driver options. */
function mountViolation(mount: EngineFields): void {
  const type = mount.text('Type');
  if (!ALLOWED_MOUNT_TYPES.has(type)) throw new UnsafeSpecError(`mount type ${type} is not allowed`);
  const propagation = new EngineFields(mount.get('BindOptions'), "a mount's BindOptions").get('Propagation');
  if (!ALLOWED_PROPAGATION.has(propagation)) throw new UnsafeSpecError(`bind propagation ${JSON.stringify(propagation)} is not allowed`);
  const driverConfig = new EngineFields(mount.get('VolumeOptions'), "a mount's VolumeOptions").get('DriverConfig');
  if (driverConfig !== undefined && driverConfig !== null) {
    throw new UnsafeSpecError(`volume driver options are not allowed (target ${mount.text('Target')})`);
  }
}
