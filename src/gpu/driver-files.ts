/**
 * Finding the driver's user-space files in the host's library and binary directories. A library counts only when
 * its name is `<base>.so.<driver version>` exactly; its soname links are the symlinks `<base>.so.*` in the same
 * directory that lead to the same file. Link chains are followed only inside the directory they start in.
 */
import path from 'node:path';
import type { HostFs } from '../host/host-fs.js';

export interface DriverFile {
  /** `libcuda`, `nvidia-smi`. */
  base: string;
  /** The regular file behind every name, in host terms. */
  hostPath: string;
  /** The names it gets in the workspace: the versioned name first, then its soname links, sorted. */
  names: string[];
}

const MAX_LINK_HOPS = 8;

/** The name of the regular file that `name` leads to inside `dir`, or null (missing, leaves `dir`, a loop, not a file). */
async function resolveInDir(fs: HostFs, dir: string, name: string): Promise<string | null> {
  let current = name;
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
    const entry = await fs.lstat(path.posix.join(dir, current));
    if (entry?.type === 'file') return current;
    if (entry?.type !== 'symlink') return null;
    const target = await fs.readlink(path.posix.join(dir, current));
    if (target === null) return null;
    const next = path.posix.resolve(dir, target);
    if (path.posix.dirname(next) !== dir) return null;
    current = path.posix.basename(next);
  }
  return null;
}

/** The first directory (in order) holding `<base>.so.<version>` wins for that base. */
export async function findLibraries(fs: HostFs, dirs: readonly string[], version: string, bases: readonly string[]): Promise<DriverFile[]> {
  const found = new Map<string, DriverFile>();
  for (const dir of dirs) {
    const entries = await fs.readdir(dir);
    if (entries === null) continue;
    for (const base of bases) {
      const versioned = `${base}.so.${version}`;
      if (found.has(base) || !entries.includes(versioned)) continue;
      const file = await resolveInDir(fs, dir, versioned);
      if (file === null) continue;
      const links: string[] = [];
      for (const entry of entries) {
        if (entry === versioned || !entry.startsWith(`${base}.so.`)) continue;
        if ((await fs.lstat(path.posix.join(dir, entry)))?.type !== 'symlink') continue;
        if ((await resolveInDir(fs, dir, entry)) === file) links.push(entry);
      }
      found.set(base, { base, hostPath: path.posix.join(dir, file), names: [versioned, ...links.sort()] });
    }
  }
  return bases.flatMap((base) => found.get(base) ?? []);
}

export async function findBinaries(fs: HostFs, dirs: readonly string[], names: readonly string[]): Promise<DriverFile[]> {
  const found: DriverFile[] = [];
  for (const name of names) {
    for (const dir of dirs) {
      const file = await resolveInDir(fs, dir, name);
      if (file === null) continue;
      found.push({ base: name, hostPath: path.posix.join(dir, file), names: [name] });
      break;
    }
  }
  return found;
}
