/**
 * detectImageFacts against an in-memory stand-in for the engine's archive API (HEAD stat with raw link targets,
 * GET of one file, create/remove of a container). It stands in for dockerd only to pin the decision logic and
 * the container's lifecycle here; test/integration/detect.test.ts proves the same against a real engine.
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/engine/engine-errors.js';
import type { ContainerCreateSpec, PathStat } from '../../../src/engine/types.js';
import type { ImageFacts } from '../../../src/image/facts.js';
import { ModeDir, ModeNamedPipe, ModeSymlink } from '../../../src/image/filemode.js';
import { detectImageFacts, INSPECTION_LABEL, type InspectionEngine, removeStaleInspections } from '../../../src/image/inspection-container.js';

type Node = { dir: true } | { file: string; mode?: number } | { link: string } | { fifo: true } | { loop: true };
type Tree = Record<string, Node>;

const base: Tree = {
  '/': { dir: true },
  '/bin': { dir: true },
  '/bin/busybox': { file: 'ELF', mode: 0o755 },
  '/bin/sleep': { link: 'busybox' },
  '/sbin': { dir: true },
  '/etc': { dir: true },
  '/etc/passwd': { file: 'root:x:0:0:root:/root:/bin/sh\ncoder:x:1000:1000::/home/coder:/bin/sh\n', mode: 0o644 },
  '/usr': { dir: true },
  '/usr/lib': { dir: true },
  '/usr/lib/os-release': { file: 'ID=debian\nVERSION_ID="12"\n', mode: 0o644 },
  '/etc/os-release': { link: '../usr/lib/os-release' },
};

class FakeInspectionEngine implements InspectionEngine {
  readonly created: ContainerCreateSpec[] = [];
  readonly removed: string[] = [];
  readonly containers = new Map<string, Tree>();
  private readonly labels = new Map<string, Record<string, string>>();
  private next = 0;

  constructor(private readonly images: Record<string, Tree>) {}

  createContainer(spec: ContainerCreateSpec): Promise<string> {
    const tree = this.images[spec.Image];
    if (tree === undefined) return Promise.reject(new EngineError('container create', 404, `no such image ${spec.Image}`));
    this.created.push(spec);
    const id = `c${this.next++}`;
    this.containers.set(id, tree);
    this.labels.set(id, spec.Labels);
    return Promise.resolve(id);
  }

  private tree(id: string): Tree {
    const tree = this.containers.get(id);
    if (tree === undefined) throw new EngineError('archive', 404, `no such container ${id}`);
    return tree;
  }

  statPath(id: string, path: string): Promise<PathStat | undefined> {
    this.stats.push(path);
    const node = this.tree(id)[path];
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (node === undefined) return Promise.resolve(undefined);
    if ('loop' in node) return Promise.reject(new EngineError(`stat ${path}`, 500, 'server error'));
    if ('dir' in node) return Promise.resolve({ name, size: 4096, mode: ModeDir + 0o755, linkTarget: '' });
    if ('fifo' in node) return Promise.resolve({ name, size: 0, mode: ModeNamedPipe + 0o644, linkTarget: '' });
    if ('link' in node) return Promise.resolve({ name, size: node.link.length, mode: ModeSymlink + 0o777, linkTarget: node.link });
    return Promise.resolve({ name, size: node.file.length, mode: node.mode ?? 0o644, linkTarget: '' });
  }

  readFile(id: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
    const node = this.tree(id)[path];
    if (node === undefined || !('file' in node) || node.file.length > maxBytes) return Promise.resolve(undefined);
    return Promise.resolve(Buffer.from(node.file));
  }

  readonly removeOptions: unknown[] = [];
  readonly stats: string[] = [];

  removeContainer(id: string, options?: { force?: boolean }): Promise<void> {
    this.removeOptions.push(options);
    this.removed.push(id);
    this.containers.delete(id);
    return Promise.resolve();
  }

  /** Honours `key=value` and `key` filters, as the engine does. */
  listContainers(filters: string[]): Promise<{ id: string; name: string; image: string; labels: Record<string, string>; state: string }[]> {
    const matches = (labels: Record<string, string>): boolean =>
      filters.every((f) => {
        const [key = '', value] = f.split('=');
        return key in labels && (value === undefined || labels[key] === value);
      });
    const ids = [...this.containers.keys()].filter((id) => matches(this.labels.get(id) ?? {}));
    return Promise.resolve(ids.map((id) => ({ id, name: id, image: 'x', labels: this.labels.get(id) ?? {}, state: 'created' })));
  }
}

const withInit = (init: Tree): Tree => ({ ...base, ...init });

describe('detectImageFacts: init mode', () => {
  it.each([
    { name: 'no /sbin/init', tree: base, init: { mode: 'keepalive', target: null, reason: '/sbin/init does not exist' } },
    { name: 'busybox init', tree: withInit({ '/sbin/init': { link: '/bin/busybox' } }), init: { mode: 'init', target: '/bin/busybox', reason: null } },
    {
      name: 'merged-usr systemd',
      tree: withInit({
        '/sbin': { link: 'usr/sbin' },
        '/usr/sbin': { dir: true },
        '/usr/lib/systemd': { dir: true },
        '/usr/lib/systemd/systemd': { file: 'ELF', mode: 0o755 },
        '/lib': { link: 'usr/lib' },
        '/usr/sbin/init': { link: '/lib/systemd/systemd' },
      }),
      init: { mode: 'systemd', target: '/usr/lib/systemd/systemd', reason: null },
    },
    {
      name: 'dangling',
      tree: withInit({ '/sbin/init': { link: '/nonexistent/init' } }),
      init: { mode: 'keepalive', target: null, reason: '/sbin/init is a dangling symlink (nothing at /nonexistent/init)' },
    },
    { name: 'engine 500 (loop)', tree: withInit({ '/sbin/init': { loop: true } }), init: { mode: 'keepalive', target: null, reason: '/sbin/init cannot be resolved (symlink loop)' } },
    { name: 'directory', tree: withInit({ '/sbin/init': { dir: true } }), init: { mode: 'keepalive', target: null, reason: '/sbin/init resolves to a directory (/sbin/init)' } },
    { name: 'fifo', tree: withInit({ '/sbin/init': { fifo: true } }), init: { mode: 'keepalive', target: null, reason: '/sbin/init resolves to a named pipe (/sbin/init)' } },
    {
      name: 'not executable',
      tree: withInit({ '/sbin/init': { file: 'ELF', mode: 0o644 } }),
      init: { mode: 'keepalive', target: null, reason: '/sbin/init resolves to /sbin/init, which is not executable (mode 0644)' },
    },
  ])('$name', async ({ tree, init }) => {
    const engine = new FakeInspectionEngine({ 'sha256:img': tree });
    const facts = await detectImageFacts(engine, 'sha256:img');
    expect(facts.init).toEqual({ path: '/sbin/init', ...init });
  });
});

describe('detectImageFacts: files and lifecycle', () => {
  it('reads os-release through its link, passwd, and keeps the unresolved sleep path', async () => {
    const engine = new FakeInspectionEngine({ 'sha256:img': base });
    const facts = await detectImageFacts(engine, 'sha256:img');
    expect(facts).toEqual<ImageFacts>({
      imageId: 'sha256:img',
      init: { mode: 'keepalive', path: '/sbin/init', target: null, reason: '/sbin/init does not exist' },
      osRelease: { id: 'debian', idLike: [], versionId: '12' },
      users: [
        { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
        { name: 'coder', uid: 1000, gid: 1000, home: '/home/coder', shell: '/bin/sh' },
      ],
      sleepPath: '/bin/sleep',
    });
  });

  it.each([
    { name: 'no sleep anywhere', extra: { '/bin/sleep': { link: 'missing' } } satisfies Tree, sleepPath: null },
    { name: 'a directory at /bin/sleep, usable /usr/bin/sleep', extra: { '/bin/sleep': { dir: true }, '/usr/bin': { dir: true }, '/usr/bin/sleep': { file: 'x', mode: 0o755 } } satisfies Tree, sleepPath: '/usr/bin/sleep' },
    { name: 'non-executable /bin/sleep, usable /usr/bin/sleep', extra: { '/bin/sleep': { file: 'x', mode: 0o644 }, '/usr/bin': { dir: true }, '/usr/bin/sleep': { file: 'x', mode: 0o755 } } satisfies Tree, sleepPath: '/usr/bin/sleep' },
  ])('sleep: $name', async ({ extra, sleepPath }) => {
    const engine = new FakeInspectionEngine({ 'sha256:img': { ...base, ...extra } });
    expect((await detectImageFacts(engine, 'sha256:img')).sleepPath).toBe(sleepPath);
  });

  it('falls back to /usr/lib/os-release, and reports no users without passwd', async () => {
    const tree: Tree = { ...base };
    delete tree['/etc/os-release'];
    delete tree['/etc/passwd'];
    const facts = await detectImageFacts(new FakeInspectionEngine({ 'sha256:img': tree }), 'sha256:img');
    expect(facts.osRelease?.id).toBe('debian');
    expect(facts.users).toEqual([]);
  });

  it('creates a labelled inspection container on the default runtime and removes it', async () => {
    const engine = new FakeInspectionEngine({ 'sha256:img': base });
    await detectImageFacts(engine, 'sha256:img', 'daemon-a');
    expect(engine.created).toHaveLength(1);
    const [spec] = engine.created;
    expect(spec?.name).toMatch(/^cvm-inspect-[0-9a-f]{12}$/);
    expect(spec?.Labels).toEqual({ [INSPECTION_LABEL]: 'daemon-a' });
    expect(spec?.HostConfig.Runtime).toBeUndefined();
    expect(engine.removed).toEqual(['c0']);
    expect(engine.containers.size).toBe(0);
  });

  it('makes a container that could do nothing if started: no network, no restart, an entrypoint that does not exist', async () => {
    const engine = new FakeInspectionEngine({ 'sha256:img': base });
    await detectImageFacts(engine, 'sha256:img');
    expect(engine.created[0]).toMatchObject({
      Image: 'sha256:img',
      Entrypoint: ['/cvm-supervisor-inspection-is-never-started'],
      Cmd: [],
      Labels: { [INSPECTION_LABEL]: 'cvm-supervisor' },
      HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'no' } },
    });
    expect(engine.removeOptions).toEqual([{ force: true }]);
  });

  it('asks the engine about each path once per detection', async () => {
    const engine = new FakeInspectionEngine({ 'sha256:img': base });
    await detectImageFacts(engine, 'sha256:img');
    expect(engine.stats.length).toBeGreaterThan(0);
    expect(new Set(engine.stats).size).toBe(engine.stats.length);
  });

  it('removes the container when a stat fails, and rethrows', async () => {
    const engine = new FakeInspectionEngine({ 'sha256:img': base });
    engine.statPath = () => Promise.reject(new EngineError('stat', 503, 'engine hiccup'));
    await expect(detectImageFacts(engine, 'sha256:img')).rejects.toThrow('engine hiccup');
    expect(engine.removed).toEqual(['c0']);
  });

  it('removeStaleInspections removes the leftovers of its own owner and nothing else', async () => {
    const engine = new FakeInspectionEngine({ 'sha256:img': base });
    const mine = { [INSPECTION_LABEL]: 'daemon-a' };
    await engine.createContainer({ name: 'left', Image: 'sha256:img', Labels: mine, HostConfig: {} });
    await engine.createContainer({ name: 'left2', Image: 'sha256:img', Labels: mine, HostConfig: {} });
    await engine.createContainer({ name: 'other', Image: 'sha256:img', Labels: { [INSPECTION_LABEL]: 'daemon-b' }, HostConfig: {} });
    await engine.createContainer({ name: 'workspace', Image: 'sha256:img', Labels: {}, HostConfig: {} });
    expect(await removeStaleInspections(engine, 'daemon-a')).toBe(2);
    expect(engine.containers.size).toBe(2);
    expect(engine.removeOptions).toEqual([{ force: true }, { force: true }]);
  });
});
