/** Checks of the node itself: distribution, the daemon's privileges, user namespaces, the expected hostPath mounts. */
import type { Place } from './place.js';
import { type Check, pass } from './report.js';

function osReleaseField(text: string, key: string): string | null {
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] === key) return (match[2] ?? '').replace(/^(["'])(.*)\1$/, '$2');
  }
  return null;
}

/** Sysbox supports these node distributions (sysbox docs, "Distro compatibility"). */
const SUPPORTED_DISTROS: ReadonlySet<string> = new Set(['ubuntu', 'debian', 'fedora', 'centos', 'rhel', 'rocky', 'almalinux', 'amzn', 'flatcar']);
/** Node images on which sysbox cannot run: read-only, locked-down hosts. */
const UNSUPPORTED_DISTROS: Readonly<Record<string, string>> = {
  cos: 'GKE Container-Optimized OS cannot run sysbox: use the Ubuntu (containerd) node image',
  bottlerocket: 'Bottlerocket cannot run sysbox (no user namespaces, read-only host): use an Ubuntu or Amazon Linux node group',
};

/** `/etc/os-release` of the host (null when unreadable). */
export function distroCheck(osRelease: string | null): Check {
  if (osRelease === null) {
    return { id: 'distro', status: 'warn', evidence: "the host's /etc/os-release is not readable", hint: 'mount the host root (or /etc/os-release) under --host-root' };
  }
  const id = osReleaseField(osRelease, 'ID') ?? 'unknown';
  const name = osReleaseField(osRelease, 'PRETTY_NAME') ?? id;
  const refusal = UNSUPPORTED_DISTROS[id];
  if (refusal !== undefined) return { id: 'distro', status: 'fail', evidence: name, hint: refusal };
  if (SUPPORTED_DISTROS.has(id)) return pass('distro', name);
  return { id: 'distro', status: 'warn', evidence: `${name} (ID=${id}) is not a distribution sysbox lists as supported`, hint: 'prefer Ubuntu, Debian, Fedora, a RHEL-family distribution or Flatcar' };
}

const CAP_SYS_ADMIN = 21n;

/**
 * The daemon's own CapEff (from /proc/self/status). Embedded mode runs dockerd and sysbox inside the supervising
 * container, so it must be privileged; host mode only talks to the node's engine, so missing CAP_SYS_ADMIN is a
 * warning there (the hostPath reads of /proc and /sys still need a privileged container on most clusters).
 */
export function privilegedCheck(status: string | null, engineMode: string, place: Place): Check {
  const hex = status === null ? null : /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status)?.[1];
  if (hex === null || hex === undefined) {
    return { id: 'privileged', status: 'warn', evidence: 'cannot read CapEff from /proc/self/status', hint: 'mount the host /proc under --host-root' };
  }
  const has = ((BigInt(`0x${hex}`) >> CAP_SYS_ADMIN) & 1n) === 1n;
  if (has) return pass('privileged', `CapEff ${hex} includes CAP_SYS_ADMIN`);
  return {
    id: 'privileged',
    status: engineMode === 'embedded' ? 'fail' : 'warn',
    evidence: `CapEff ${hex} lacks CAP_SYS_ADMIN`,
    hint: place === 'pod' ? 'run the supervising container privileged (securityContext.privileged: true)' : 'run the daemon as root',
  };
}

/** /proc/sys/user/max_user_namespaces: sysbox puts every CVM in its own user namespace. */
export function userNamespacesCheck(maxUserNamespaces: string | null): Check {
  if (maxUserNamespaces === null) {
    return { id: 'userns', status: 'warn', evidence: '/proc/sys/user/max_user_namespaces is not readable', hint: 'mount the host /proc under --host-root; the kernel needs CONFIG_USER_NS' };
  }
  const value = Number(maxUserNamespaces.trim());
  if (Number.isInteger(value) && value > 0) return pass('userns', `max_user_namespaces = ${value}`);
  return {
    id: 'userns',
    status: 'fail',
    evidence: `max_user_namespaces = ${maxUserNamespaces.trim()}`,
    hint: 'enable user namespaces: sysctl -w user.max_user_namespaces=15000 (Bottlerocket ships 0)',
  };
}

export interface ExpectedMount {
  /** What it is for, for the evidence. */
  what: string;
  path: string;
  present: boolean;
  /** Without a required one nothing works; without an optional one some features (devices, GPUs, checks) do not. */
  required: boolean;
}

export function hostMountsCheck(mounts: readonly ExpectedMount[], place: Place): Check {
  const missing = mounts.filter((m) => !m.present);
  if (missing.length === 0) return pass('host-mounts', mounts.map((m) => `${m.what} at ${m.path}`).join('; '));
  const evidence = `missing: ${missing.map((m) => `${m.what} (${m.path})`).join('; ')}`;
  const hint = place === 'pod' ? 'mount them into the supervising container with hostPath volumes (see deploy/kubernetes)' : 'check --docker-host and --host-root: they must name paths that exist on this machine';
  return { id: 'host-mounts', status: missing.some((m) => m.required) ? 'fail' : 'warn', evidence, hint };
}
