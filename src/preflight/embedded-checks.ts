/**
 * What embedded mode's own engine needs, in the daemon's own namespaces: dockerd, ip and iptables, CAP_NET_ADMIN
 * (the workspaces' bridge and its firewall rule), sysbox's three programs, storage that is not overlayfs, and what
 * sysbox needs to give CVMs their own /proc and /sys (a writable /sys and cgroups, an unmasked /proc, /dev/fuse).
 * Pure: gather.ts reads the facts.
 */
import type { HostEntry } from '../host/host-fs.js';
import type { Place } from './place.js';
import { type Check, cvmOnly, pass } from './report.js';
import { type MountEntry, mountOf, parseMounts } from './storage.js';

export const ENGINE_PROGRAMS = ['dockerd', 'ip', 'iptables'] as const;
export const SYSBOX_PROGRAMS = ['sysbox-mgr', 'sysbox-fs', 'sysbox-runc'] as const;
export type EmbeddedProgram = (typeof ENGINE_PROGRAMS)[number] | (typeof SYSBOX_PROGRAMS)[number];

/** Where each program is on the daemon's PATH; null when it is not. */
export type FoundPrograms = Readonly<Record<EmbeddedProgram, string | null>>;

export const SYSBOX_INSTALL_HINT = 'install sysbox (the sysbox-ce package, https://github.com/nestybox/sysbox) or put sysbox-runc, sysbox-mgr and sysbox-fs on PATH';

const CAP_NET_ADMIN = 12n;

function privilegesHint(place: Place): string {
  return place === 'pod' ? 'run the supervising container privileged (securityContext.privileged: true)' : 'run the daemon as root, with every capability';
}

function missing(programs: FoundPrograms, names: readonly EmbeddedProgram[]): EmbeddedProgram[] {
  return names.filter((name) => programs[name] === null);
}

/** dockerd, ip and iptables on PATH, and CAP_NET_ADMIN in the daemon's CapEff. */
export function embeddedEngineCheck(programs: FoundPrograms, searchPath: string, status: string | null, place: Place): Check {
  const absent = missing(programs, ENGINE_PROGRAMS);
  if (absent.length > 0) {
    return { id: 'embedded-engine', status: 'fail', evidence: `not on PATH (${searchPath}): ${absent.join(', ')}`, hint: 'install docker.io (it brings containerd, runc and iptables) and iproute2' };
  }
  const capEff = status === null ? undefined : /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status)?.[1];
  if (capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_NET_ADMIN) & 1n) === 0n) {
    return { id: 'embedded-engine', status: 'fail', evidence: `CapEff ${capEff} lacks CAP_NET_ADMIN, which the workspaces' bridge and its firewall rule need`, hint: privilegesHint(place) };
  }
  return pass('embedded-engine', `${ENGINE_PROGRAMS.map((name) => programs[name]).join(', ')}${capEff === undefined ? '' : '; CAP_NET_ADMIN'}`);
}

export function sysboxCheck(programs: FoundPrograms, searchPath: string, cvmEnabled: boolean): Check {
  const absent = missing(programs, SYSBOX_PROGRAMS);
  if (absent.length === 0) return pass('sysbox', SYSBOX_PROGRAMS.map((name) => programs[name]).join(', '));
  return cvmOnly({ id: 'sysbox', status: 'fail', evidence: `not on PATH (${searchPath}): ${absent.join(', ')}`, hint: SYSBOX_INSTALL_HINT }, cvmEnabled);
}

const OVERLAY = /^(overlay|aufs)$/;

function describeMount(target: string, mount: MountEntry | null): string {
  return mount === null ? `${target}: no mount holds it` : `${target} on ${mount.fsType} (${mount.source} at ${mount.mountPoint})`;
}

/**
 * dockerd's and sysbox-mgr's storage must not be overlayfs (a container's root without a volume): overlay2 cannot
 * stack on it, and sysbox-mgr exits. sysbox's storage matters only while CVMs are enabled (only then does it run).
 */
export function embeddedStorageCheck(dataRoot: string, sysboxDataRoot: string, mountsText: string | null, cvmEnabled: boolean): Check {
  if (mountsText === null) return { id: 'embedded-storage', status: 'warn', evidence: "the daemon's mount table (/proc/self/mounts) is not readable", hint: null };
  const mounts = parseMounts(mountsText);
  const targets = cvmEnabled ? [dataRoot, sysboxDataRoot] : [dataRoot];
  const found = targets.map((target) => ({ target, mount: mountOf(target, mounts) }));
  const evidence = found.map(({ target, mount }) => describeMount(target, mount)).join('; ');
  if (found.some(({ mount }) => mount !== null && OVERLAY.test(mount.fsType))) {
    return { id: 'embedded-storage', status: 'fail', evidence, hint: 'mount a volume (not overlayfs) at --state-dir, or point --data-root and --sysbox-data-root at one' };
  }
  return pass('embedded-storage', evidence);
}

/** Mount points under /proc that cover part of it (a container's masked paths); binfmt_misc is an empty directory. */
function maskedProcPaths(mounts: readonly MountEntry[]): string[] {
  return mounts.map((m) => m.mountPoint).filter((p) => p.startsWith('/proc/') && !p.startsWith('/proc/sys/fs/binfmt_misc'));
}

/**
 * sysbox mounts a fresh procfs and a read-write sysfs in each CVM's user namespace, which the kernel refuses while
 * /sys is read-only or part of /proc is covered; it needs writable cgroups for the CVMs and /dev/fuse for
 * sysbox-fs.
 */
export function sysboxAccessCheck(mountsText: string | null, fuse: HostEntry | null, cvmEnabled: boolean, place: Place): Check {
  if (mountsText === null) return { id: 'sysbox-access', status: 'warn', evidence: "the daemon's mount table (/proc/self/mounts) is not readable", hint: null };
  const mounts = parseMounts(mountsText);
  const readOnly = (m: MountEntry): boolean => m.options.includes('ro');
  const problems: string[] = [];
  if (mounts.some((m) => m.mountPoint === '/sys' && readOnly(m))) problems.push('/sys is read-only');
  const cgroups = mounts.filter((m) => (m.mountPoint === '/sys/fs/cgroup' || m.mountPoint.startsWith('/sys/fs/cgroup/')) && readOnly(m)).map((m) => m.mountPoint);
  if (cgroups.length > 0) problems.push(`cgroups are read-only (${cgroups.join(', ')})`);
  const masked = maskedProcPaths(mounts);
  if (masked.length > 0) problems.push(`parts of /proc are masked (${masked.join(', ')})`);
  if (fuse?.type !== 'char') problems.push('/dev/fuse is missing');
  if (problems.length === 0) return pass('sysbox-access', '/sys and the cgroups are writable, /proc is unmasked, /dev/fuse is there');
  const hint = place === 'pod' ? privilegesHint(place) : 'remount /sys and the cgroups read-write, unmask /proc, and load the fuse module (modprobe fuse)';
  return cvmOnly({ id: 'sysbox-access', status: 'fail', evidence: problems.join('; '), hint }, cvmEnabled);
}
