/**
 * Home volumes live in the engine's data root; sysbox cannot run workspaces whose storage is NFS. The mount that
 * holds the data root is the longest mount point of the host's mount table that contains it.
 */
import { type Check, pass } from './report.js';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  /** The mount options (`rw`, `ro`, `relatime`, ...). */
  options: string[];
}

/** /proc/<pid>/mounts: `source mountpoint fstype options 0 0`, with octal escapes for spaces and the like. */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 3)
    .map(([source = '', mountPoint = '', fsType = '', options = '']) => ({ source: unescape(source), mountPoint: unescape(mountPoint), fsType, options: options.split(',') }));
}

export function mountOf(path: string, mounts: readonly MountEntry[]): MountEntry | null {
  let best: MountEntry | null = null;
  for (const m of mounts) {
    const contains = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    // The last of equal mount points wins: it is mounted over the earlier ones.
    if (contains && (best === null || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

const NETWORK_FS = /^(nfs4?|cifs|smb3|glusterfs|ceph|fuse\.sshfs)$/;

export function homeStorageCheck(dataRoot: string, mountsText: string | null): Check {
  if (mountsText === null) {
    return { id: 'home-storage', status: 'warn', evidence: "the host's mount table (/proc/1/mounts) is not readable", hint: 'mount the host /proc under --host-root' };
  }
  const mount = mountOf(dataRoot, parseMounts(mountsText));
  if (mount === null) return { id: 'home-storage', status: 'warn', evidence: `no mount contains ${dataRoot}`, hint: null };
  const evidence = `${dataRoot} is on ${mount.fsType} (${mount.source} at ${mount.mountPoint})`;
  if (mount.fsType.startsWith('nfs')) {
    return { id: 'home-storage', status: 'fail', evidence, hint: 'CVMs do not support NFS: put the engine data root (home volumes) on local disk' };
  }
  if (NETWORK_FS.test(mount.fsType)) return { id: 'home-storage', status: 'warn', evidence, hint: 'a network filesystem under home volumes is untested with sysbox; prefer local disk' };
  return pass('home-storage', evidence);
}
