/**
 * HostFs: the one read-only view of the host's files for everything that reads the host (GPU discovery, the
 * preflight checks, node facts and mount sources). Paths are in host terms (`/dev/nvidia0`); NodeHostFs maps them
 * under --host-root, and unit tests read fixture trees through the same interface.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

export type HostEntryType = 'file' | 'directory' | 'symlink' | 'char' | 'other';

export interface HostEntry {
  type: HostEntryType;
  /** Permission bits (e.g. 0o666). */
  mode: number;
  /** Device numbers for `char`; 0 otherwise. */
  major: number;
  minor: number;
}

export interface HostFs {
  /** Where the daemon sees the host root (`--host-root`): for messages, and a host path's name in the daemon's view. */
  readonly root: string;
  /** Like lstat(2): a symlink is reported as one. Null when missing. */
  lstat(hostPath: string): Promise<HostEntry | null>;
  /** Like stat(2): symlinks are followed. Null when missing. */
  stat(hostPath: string): Promise<HostEntry | null>;
  /** A text file (proc, sysfs, etc); null when missing or unreadable. */
  readText(hostPath: string): Promise<string | null>;
  /** Entry names; null when the directory is missing. */
  readdir(hostPath: string): Promise<string[] | null>;
  readlink(hostPath: string): Promise<string | null>;
  /** realpath(3) of the path under the root, in the daemon's view (it may lie outside the root); null when missing. */
  realpath(hostPath: string): Promise<string | null>;
}

/** Linux dev_t: 12 bits of major and 20 of minor, split as glibc's major()/minor() read them. */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev % 2 ** 32;
  return { major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0), minor: (low & 0xff) | ((low >>> 12) & 0xfff00) };
}

function entryOf(st: Stats): HostEntry {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : 'other';
  const numbers = type === 'char' ? deviceNumbers(st.rdev) : { major: 0, minor: 0 };
  return { type, mode: st.mode & 0o7777, ...numbers };
}

/** Null for whatever is missing or unreadable: the readers report what they could not find, never an error. */
async function orNull<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch {
    return null;
  }
}

/** HostFs over the real file system under --host-root. */
export class NodeHostFs implements HostFs {
  /**
   * @param root the host's `/` as the daemon sees it (--host-root).
   * @param usrLibDir where the daemon sees the host's /usr/lib when it is mounted elsewhere (CODER_USR_LIB_DIR).
   */
  constructor(
    readonly root: string,
    private readonly usrLibDir?: string,
  ) {}

  private local(hostPath: string): string {
    if (this.usrLibDir !== undefined && (hostPath === '/usr/lib' || hostPath.startsWith('/usr/lib/'))) {
      return path.join(this.usrLibDir, hostPath.slice('/usr/lib'.length));
    }
    return path.join(this.root, hostPath);
  }

  async lstat(hostPath: string): Promise<HostEntry | null> {
    const st = await orNull(lstat(this.local(hostPath)));
    return st && entryOf(st);
  }

  async stat(hostPath: string): Promise<HostEntry | null> {
    const st = await orNull(stat(this.local(hostPath)));
    return st && entryOf(st);
  }

  readText(hostPath: string): Promise<string | null> {
    return orNull(readFile(this.local(hostPath), 'utf8'));
  }

  readdir(hostPath: string): Promise<string[] | null> {
    return orNull(readdir(this.local(hostPath)));
  }

  readlink(hostPath: string): Promise<string | null> {
    return orNull(readlink(this.local(hostPath)));
  }

  realpath(hostPath: string): Promise<string | null> {
    return orNull(realpath(this.local(hostPath)));
  }
}
