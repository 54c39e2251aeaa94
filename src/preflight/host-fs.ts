/**
 * The preflight checks read the host's /proc, /sys, /etc and /dev through this small interface, with paths in the
 * daemon's view (already under --host-root). Unit tests point it at fixture trees.
 */
import { readdir, readFile, stat } from 'node:fs/promises';

export type EntryKind = 'file' | 'directory' | 'socket' | 'char-device' | 'other';

export interface HostFs {
  /** The file's text, or null when it cannot be read (missing, permission, not a file). */
  readText(path: string): Promise<string | null>;
  /** What is at the path (following symlinks), or null when nothing is. */
  kind(path: string): Promise<EntryKind | null>;
  /** The names in a directory, or null when it cannot be listed. */
  list(path: string): Promise<string[] | null>;
}

export const nodeHostFs: HostFs = {
  async readText(path) {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return null;
    }
  },
  async kind(path) {
    try {
      const st = await stat(path);
      if (st.isFile()) return 'file';
      if (st.isDirectory()) return 'directory';
      if (st.isSocket()) return 'socket';
      if (st.isCharacterDevice()) return 'char-device';
      return 'other';
    } catch {
      return null;
    }
  },
  async list(path) {
    try {
      return await readdir(path);
    } catch {
      return null;
    }
  },
};
