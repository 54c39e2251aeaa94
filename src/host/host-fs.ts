/** HostFs (src/gpu/host-fs.ts) over the real file system under --host-root. */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { HostEntry, HostFs } from '../gpu/host-fs.js';

const MAX_TEXT_BYTES = 64 * 1024;

/** Linux dev_t: 12 bits of major and 20 of minor, split as glibc's major()/minor() read them. */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev % 2 ** 32;
  return { major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0), minor: (low & 0xff) | ((low >>> 12) & 0xfff00) };
}

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
    try {
      const st = await lstat(this.local(hostPath));
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : 'other';
      const numbers = type === 'char' ? deviceNumbers(st.rdev) : { major: 0, minor: 0 };
      return { type, mode: st.mode & 0o7777, ...numbers };
    } catch {
      return null;
    }
  }

  async readText(hostPath: string): Promise<string | null> {
    try {
      const text = await readFile(this.local(hostPath), 'utf8');
      return text.slice(0, MAX_TEXT_BYTES);
    } catch {
      return null;
    }
  }

  async readdir(hostPath: string): Promise<string[] | null> {
    try {
      return await readdir(this.local(hostPath));
    } catch {
      return null;
    }
  }

  async readlink(hostPath: string): Promise<string | null> {
    try {
      return await readlink(this.local(hostPath));
    } catch {
      return null;
    }
  }
}
