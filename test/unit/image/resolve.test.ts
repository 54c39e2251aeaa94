import { describe, expect, it } from 'vitest';
import type { PathStat } from '../../../src/engine/types.js';
import { ModeDir, ModeNamedPipe, ModeSymlink } from '../../../src/image/filemode.js';
import { LinkLoopError, type Lstat, resolveInImage } from '../../../src/image/resolve.js';

type Node = { dir: true } | { file: number } | { fifo: true } | { link: string };

/** A merged-usr image with the edge cases the integration images also carry. */
const tree: Record<string, Node> = {
  '/': { dir: true },
  '/usr': { dir: true },
  '/usr/bin': { dir: true },
  '/usr/sbin': { dir: true },
  '/usr/lib': { dir: true },
  '/usr/lib/systemd': { dir: true },
  '/usr/lib/systemd/systemd': { file: 0o755 },
  '/usr/lib/os-release': { file: 0o644 },
  '/usr/sbin/init': { link: '../lib/systemd/systemd' },
  '/usr/bin/sleep': { file: 0o755 },
  '/bin': { link: 'usr/bin' },
  '/sbin': { link: 'usr/sbin' },
  '/lib': { link: 'usr/lib' },
  '/etc': { dir: true },
  '/etc/os-release': { link: '../usr/lib/os-release' },
  '/etc/passwd': { file: 0o644 },
  '/etc/fifo': { fifo: true },
  '/abs': { link: '/usr/lib/systemd/systemd' },
  '/chain1': { link: 'chain2' },
  '/chain2': { link: '/usr/sbin/init' },
  '/dangling': { link: '/nowhere/systemd' },
  '/dangling-chain': { link: 'dangling' },
  '/empty-link': { link: '' },
  '/loop-a': { link: 'loop-b' },
  '/loop-b': { link: '/loop-a' },
  '/self': { link: 'self' },
  '/up': { link: '../../..' },
  '/updir': { link: 'usr/lib/../../etc' },
  '/libdir': { link: 'lib/systemd' },
  '/through-file': { link: '/etc/passwd/x' },
};

function parentOf(path: string): string {
  const parent = path.slice(0, path.lastIndexOf('/'));
  return parent === '' ? '/' : parent;
}

function statOf(path: string, node: Node, linkTarget: string): PathStat {
  const name = path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
  if ('dir' in node) return { name, size: 4096, mode: ModeDir + 0o755, linkTarget: '' };
  if ('file' in node) return { name, size: 10, mode: node.file, linkTarget: '' };
  if ('fifo' in node) return { name, size: 0, mode: ModeNamedPipe + 0o644, linkTarget: '' };
  return { name, size: node.link.length, mode: ModeSymlink + 0o777, linkTarget };
}

/** A plain lstat: raw link targets. Refuses paths the resolver promises never to send (see resolve.ts). */
const rawLstat: Lstat = (path) => {
  expect(path).toMatch(/^\/([^/]+(\/[^/]+)*)?$/);
  expect(path.split('/')).not.toContain('..');
  expect(path.split('/')).not.toContain('.');
  expect(tree[parentOf(path)]).toEqual({ dir: true });
  const node = tree[path];
  return Promise.resolve(node === undefined ? undefined : statOf(path, node, 'link' in node ? node.link : ''));
};

/**
 * Stands in for dockerd's archive HEAD: a symlink's linkTarget is the fully resolved absolute path
 * (a port of moby's evalSymlinksInScope, 255 iterations), and failing to resolve it throws like its 500.
 */
function engineEval(path: string): string {
  let rest = path;
  let done = '';
  for (let n = 0; rest !== ''; n++) {
    if (n > 255) throw new LinkLoopError(path);
    const slash = rest.indexOf('/');
    const part = slash === -1 ? rest : rest.slice(0, slash);
    rest = slash === -1 ? '' : rest.slice(slash + 1);
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done = done.slice(0, Math.max(0, done.lastIndexOf('/')));
      continue;
    }
    const full = `${done}/${part}`;
    const node = tree[full];
    if (node === undefined || !('link' in node)) {
      if (node !== undefined && !('dir' in node) && rest !== '') throw new LinkLoopError(path); // ENOTDIR
      done = full;
      continue;
    }
    if (node.link.startsWith('/')) done = '';
    rest = `${node.link}/${rest}`;
  }
  return done === '' ? '/' : done;
}

const engineLstat: Lstat = (path) => {
  const node = tree[path];
  if (node === undefined) return Promise.resolve(undefined);
  return Promise.resolve(statOf(path, node, 'link' in node ? engineEval(path) : ''));
};

const fileMode = 0o755;
const cases: { path: string; kind: string; resolved: string; mode?: number }[] = [
  { path: '/usr/lib/systemd/systemd', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/usr/sbin/init', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/sbin/init', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/abs', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/chain1', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/bin/sleep', kind: 'file', resolved: '/usr/bin/sleep', mode: fileMode },
  { path: '/etc/os-release', kind: 'file', resolved: '/usr/lib/os-release', mode: 0o644 },
  { path: '/etc/passwd', kind: 'file', resolved: '/etc/passwd', mode: 0o644 },
  { path: '/lib/systemd', kind: 'dir', resolved: '/usr/lib/systemd', mode: ModeDir + 0o755 },
  { path: '/libdir/systemd', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/sbin', kind: 'dir', resolved: '/usr/sbin', mode: ModeDir + 0o755 },
  { path: '/', kind: 'dir', resolved: '/', mode: ModeDir + 0o755 },
  { path: '/../../..', kind: 'dir', resolved: '/', mode: ModeDir + 0o755 },
  { path: '/up', kind: 'dir', resolved: '/', mode: ModeDir + 0o755 },
  { path: '/up/sbin/init', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/../sbin/./init', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  // The kernel applies `..` to the link's target (/usr/sbin/.. = /usr), not lexically (which would give /bin/sleep).
  { path: '/sbin/../bin/sleep', kind: 'file', resolved: '/usr/bin/sleep', mode: fileMode },
  { path: '/sbin/../sbin/init', kind: 'file', resolved: '/usr/lib/systemd/systemd', mode: fileMode },
  { path: '/updir/passwd', kind: 'file', resolved: '/etc/passwd', mode: 0o644 },
  { path: '/etc/fifo', kind: 'other', resolved: '/etc/fifo', mode: ModeNamedPipe + 0o644 },
  { path: '/nope', kind: 'missing', resolved: '/nope' },
  { path: '/sbin/nope', kind: 'missing', resolved: '/usr/sbin/nope' },
  { path: '/etc/passwd/x', kind: 'missing', resolved: '/etc/passwd/x' },
  { path: '/dangling', kind: 'dangling', resolved: '/nowhere/systemd' },
  { path: '/dangling-chain', kind: 'dangling', resolved: '/nowhere/systemd' },
  { path: '/through-file', kind: 'dangling', resolved: '/etc/passwd/x' },
  { path: '/loop-a', kind: 'loop', resolved: '/loop-a' },
  { path: '/self', kind: 'loop', resolved: '/self' },
  { path: '/loop-a/x', kind: 'loop', resolved: '/loop-a/x' },
];

describe('resolveInImage with a raw lstat', () => {
  it.each(cases)('$path -> $kind $resolved', async ({ path, kind, resolved, mode }) => {
    expect(await resolveInImage(path, rawLstat)).toEqual({ kind, path: resolved, mode: mode ?? null });
  });

  it('treats a symlink with an empty target as dangling', async () => {
    expect(await resolveInImage('/empty-link', rawLstat)).toEqual({ kind: 'dangling', path: '/empty-link', mode: null });
  });
});

describe('resolveInImage with an engine-like lstat (pre-resolved linkTarget, 500 on loops)', () => {
  // /through-file is the one divergence: the engine cannot resolve it (ENOTDIR is its 500), so it reads as a loop.
  const engineCases = cases.map((c) => (c.path === '/through-file' ? { ...c, kind: 'loop', resolved: '/through-file' } : c));
  it.each(engineCases)('$path -> $kind $resolved', async ({ path, kind, resolved, mode }) => {
    expect(await resolveInImage(path, engineLstat)).toEqual({ kind, path: resolved, mode: mode ?? null });
  });
});

describe('resolveInImage hop limit', () => {
  it('follows a chain of 40 links and calls the 41st a loop', async () => {
    const chain = (length: number): Lstat => (path) => {
      const index = Number(path.slice('/l'.length));
      if (path === '/target') return Promise.resolve({ name: 'target', size: 1, mode: 0o755, linkTarget: '' });
      const linkTarget = index + 1 < length ? `l${index + 1}` : 'target';
      return Promise.resolve({ name: path.slice(1), size: 1, mode: ModeSymlink + 0o777, linkTarget });
    };
    expect((await resolveInImage('/l0', chain(40))).kind).toBe('file');
    expect((await resolveInImage('/l0', chain(41))).kind).toBe('loop');
  });

  it('propagates lstat errors that are not loops', async () => {
    const failing: Lstat = () => Promise.reject(new Error('engine unavailable'));
    await expect(resolveInImage('/sbin/init', failing)).rejects.toThrow('engine unavailable');
  });
});

describe('LinkLoopError', () => {
  it('names the path the engine would not resolve', () => {
    const error = new LinkLoopError('/sbin/init');
    expect(error).toMatchObject({ name: 'LinkLoopError', message: 'cannot resolve symlink /sbin/init', path: '/sbin/init' });
  });
});
