/**
 * The small read-only view of the host's file system that GPU discovery needs. Paths are in host terms (`/dev/nvidia0`);
 * the implementation maps them under --host-root (src/host/host-fs.ts), and unit tests read fixture trees.
 */

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
  /** Where the daemon reads the host root, for messages (`--host-root`). */
  readonly root: string;
  /** Like lstat(2): a symlink is reported as one. Null when missing. */
  lstat(hostPath: string): Promise<HostEntry | null>;
  /** A small text file (proc, sysfs); null when missing or unreadable. */
  readText(hostPath: string): Promise<string | null>;
  /** Entry names; null when the directory is missing. */
  readdir(hostPath: string): Promise<string[] | null>;
  readlink(hostPath: string): Promise<string | null>;
}
