/** Finding the driver's files in a directory (driver-files.ts), on small in-memory trees where each case is one link away. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findBinaries, findLibraries } from '../../../src/gpu/driver-files.js';
import type { HostEntry, HostFs } from '../../../src/host/host-fs.js';

/** Paths to a file (`null` content) or a symlink target; directories are implied; readdir keeps the given order. */
function memFs(tree: Record<string, string | null>): HostFs {
  const entry = (type: HostEntry['type']): HostEntry => ({ type, mode: 0o644, major: 0, minor: 0 });
  const dirs = new Set(Object.keys(tree).map((p) => path.posix.dirname(p)));
  const lstat = (p: string): Promise<HostEntry | null> =>
    Promise.resolve(p in tree ? entry(tree[p] === null ? 'file' : 'symlink') : dirs.has(p) ? entry('directory') : null);
  return {
    root: '/',
    lstat,
    stat: lstat,
    readText: () => Promise.resolve(null),
    readdir: (p) => Promise.resolve(dirs.has(p) ? Object.keys(tree).filter((k) => path.posix.dirname(k) === p).map((k) => path.posix.basename(k)) : null),
    readlink: (p) => Promise.resolve(tree[p] ?? null),
    realpath: () => Promise.resolve(null),
  };
}

const V = '535.129.03';
const LIB = '/usr/lib/x86_64-linux-gnu';

describe('findLibraries', () => {
  it('lists soname links sorted, whatever order the directory gives', async () => {
    const fs = memFs({ [`${LIB}/libcuda.so.${V}`]: null, [`${LIB}/libcuda.so.1`]: `libcuda.so.${V}`, [`${LIB}/libcuda.so.0`]: `libcuda.so.${V}` });
    expect(await findLibraries(fs, [LIB], V, ['libcuda'])).toEqual([{ base: 'libcuda', hostPath: `${LIB}/libcuda.so.${V}`, names: [`libcuda.so.${V}`, 'libcuda.so.0', 'libcuda.so.1'] }]);
  });

  it('takes a library from the first directory that has it', async () => {
    const fs = memFs({ [`${LIB}/libcuda.so.${V}`]: null, [`/usr/lib64/libcuda.so.${V}`]: null });
    expect((await findLibraries(fs, ['/usr/lib64', LIB], V, ['libcuda'])).map((l) => l.hostPath)).toEqual([`/usr/lib64/libcuda.so.${V}`]);
  });

  it('follows a versioned name that is itself a link, and names neither the file behind it nor links of other bases', async () => {
    const fs = memFs({
      [`${LIB}/libcuda.so.${V}`]: `libcuda.so.${V}.real`,
      [`${LIB}/libcuda.so.${V}.real`]: null,
      [`${LIB}/libcuda.so.1`]: `libcuda.so.${V}`,
      [`${LIB}/libother.so.1`]: `libcuda.so.${V}`,
    });
    expect(await findLibraries(fs, [LIB], V, ['libcuda'])).toEqual([{ base: 'libcuda', hostPath: `${LIB}/libcuda.so.${V}.real`, names: [`libcuda.so.${V}`, 'libcuda.so.1'] }]);
  });

  it('does not count a link to a file of the same name in another directory as a soname link', async () => {
    const fs = memFs({ [`${LIB}/libcuda.so.${V}`]: null, [`${LIB}/libcuda.so.1`]: `/opt/other/libcuda.so.${V}`, [`/opt/other/libcuda.so.${V}`]: null });
    expect((await findLibraries(fs, [LIB], V, ['libcuda']))[0]?.names).toEqual([`libcuda.so.${V}`]);
  });

  it('follows a chain of 8 links in the directory, but not 9, nor a loop', async () => {
    const chain = (links: number): Record<string, string | null> => {
      const tree: Record<string, string | null> = { [`${LIB}/libcuda.so.${V}`]: null };
      for (let i = 1; i <= links; i++) tree[`${LIB}/libcuda.so.${i}`] = i === 1 ? `libcuda.so.${V}` : `libcuda.so.${i - 1}`;
      return tree;
    };
    expect((await findLibraries(memFs(chain(8)), [LIB], V, ['libcuda']))[0]?.names).toContain('libcuda.so.8');
    expect((await findLibraries(memFs(chain(9)), [LIB], V, ['libcuda']))[0]?.names).not.toContain('libcuda.so.9');
    const loop = memFs({ [`${LIB}/libcuda.so.${V}`]: null, [`${LIB}/libcuda.so.1`]: 'libcuda.so.2', [`${LIB}/libcuda.so.2`]: 'libcuda.so.1' });
    expect((await findLibraries(loop, [LIB], V, ['libcuda']))[0]?.names).toEqual([`libcuda.so.${V}`]);
  });
});

describe('findBinaries', () => {
  it('gives a binary its own name, from the first directory that has it', async () => {
    const fs = memFs({ '/usr/bin/nvidia-smi': null, '/usr/sbin/nvidia-smi': null });
    expect(await findBinaries(fs, ['/usr/bin', '/usr/sbin'], ['nvidia-smi'])).toEqual([{ base: 'nvidia-smi', hostPath: '/usr/bin/nvidia-smi', names: ['nvidia-smi'] }]);
  });
});
