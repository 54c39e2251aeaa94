import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineImages, ImageSummary } from '../../../src/engine/types.js';
import { ImageGc, type ImageGcOptions, type NeededImage, planImageGc } from '../../../src/image/image-gc.js';
import { FakeEngine } from '../../support/fake-engine.js';

const GB = 1024 ** 3;
const candidates = [
  { id: 'new', sizeBytes: 2 * GB, lastUsedMs: 300 },
  { id: 'old', sizeBytes: 1 * GB, lastUsedMs: 100 },
  { id: 'mid', sizeBytes: 3 * GB, lastUsedMs: 200 },
];
const thresholds = { highPercent: 85, lowPercent: 80 };

describe('planImageGc', () => {
  it('does nothing below the high threshold', () => {
    expect(planImageGc({ usedBytes: 84 * GB, totalBytes: 100 * GB }, thresholds, candidates)).toEqual([]);
  });

  it('removes least recently used first, only until the low threshold is reached', () => {
    // 86 % used: 6 GB must go; old (1) + mid (3) = 4 is not enough, new (2) makes 6.
    expect(planImageGc({ usedBytes: 86 * GB, totalBytes: 100 * GB }, thresholds, candidates).map((c) => c.id)).toEqual(['old', 'mid', 'new']);
    // 85 % used: 5 GB must go; old + mid = 4, then new.
    expect(planImageGc({ usedBytes: 85 * GB, totalBytes: 100 * GB }, thresholds, candidates).map((c) => c.id)).toEqual(['old', 'mid', 'new']);
    // With a low threshold of 84 %, 1 GB must go: the oldest alone.
    expect(planImageGc({ usedBytes: 85 * GB, totalBytes: 100 * GB }, { highPercent: 85, lowPercent: 84 }, candidates).map((c) => c.id)).toEqual(['old']);
  });

  it('can only offer what it has: every candidate when even all of them are not enough', () => {
    expect(planImageGc({ usedBytes: 99 * GB, totalBytes: 100 * GB }, thresholds, candidates)).toHaveLength(3);
    expect(planImageGc({ usedBytes: 99 * GB, totalBytes: 100 * GB }, thresholds, [])).toEqual([]);
  });

  it('does nothing on a disk that reports no size', () => {
    expect(planImageGc({ usedBytes: 1 * GB, totalBytes: 0 }, thresholds, candidates)).toEqual([]);
  });
});

/** The engine's image calls over a fixed list; removeImage fails for the IDs in `stuck`. */
class StubImages implements EngineImages {
  readonly removed: string[] = [];
  constructor(
    public images: ImageSummary[],
    private readonly inUse: string[] = [],
    private readonly stuck: string[] = [],
  ) {}
  inspectImage(): Promise<undefined> {
    return Promise.reject(new Error('not used by image gc'));
  }
  listImages(): Promise<ImageSummary[]> {
    return Promise.resolve(this.images);
  }
  imagesInUse(): Promise<Set<string>> {
    return Promise.resolve(new Set(this.inUse));
  }
  removeImage(id: string): Promise<void> {
    if (this.stuck.includes(id)) return Promise.reject(new Error(`conflict: ${id} is used by a container`));
    this.removed.push(id);
    this.images = this.images.filter((image) => image.id !== id);
    return Promise.resolve();
  }
  pullImage(): Promise<void> {
    return Promise.reject(new Error('not used by image gc'));
  }
}

const image = (id: string, tags: string[] = [], digests: string[] = [], sizeBytes = 1000): ImageSummary => ({ id, repoTags: tags, repoDigests: digests, sizeBytes });

describe('ImageGc.run: what it may remove', () => {
  let dir: string;
  let logs: { level: number; msg: string; image?: string; err?: string }[];
  let reclaimed: [number, number][];
  let clock: number;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cvm-image-gc-run-'));
    logs = [];
    reclaimed = [];
    clock = 1000;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Thresholds of 0 %: every disk is over, and every candidate goes, least recently used first. */
  const gcOf = (engine: EngineImages, needed: NeededImage[] = [], options: Partial<ImageGcOptions> = {}): ImageGc =>
    new ImageGc({
      engine,
      stateDir: dir,
      highPercent: 0,
      lowPercent: 0,
      diskPath: () => Promise.resolve(dir),
      needed: () => needed,
      logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) }),
      onReclaimed: (bytes, images) => reclaimed.push([bytes, images]),
      now: () => clock,
      ...options,
    });
  const usageFile = async (): Promise<unknown> => JSON.parse(await readFile(path.join(dir, 'image-usage.json'), 'utf8'));
  const recordAt = async (gc: ImageGc, uses: [string, number][]): Promise<void> => {
    for (const [id, at] of uses) {
      clock = at;
      await gc.recordUse(id);
    }
    clock = 1000;
  };

  it('removes only images it recorded a use of, least recently used first, and counts what it reclaimed', async () => {
    const engine = new StubImages([image('sha256:new', [], [], 300), image('sha256:old', [], [], 100), image('sha256:foreign', [], [], 5000)]);
    const gc = gcOf(engine);
    await recordAt(gc, [['sha256:new', 20], ['sha256:old', 10]]);
    expect(await gc.run()).toEqual({ removed: ['sha256:old', 'sha256:new'], reclaimedBytes: 400 });
    expect(engine.removed).toEqual(['sha256:old', 'sha256:new']);
    expect(reclaimed).toEqual([[400, 2]]);
    expect(logs.filter((l) => l.msg === 'image gc removed unused workspace images')).toMatchObject([{ images: 2, bytes: 400 }]);
    expect(await usageFile()).toEqual({});
  });

  it('keeps an image a container is made from, one a workspace container needs, and one a spec names by tag or digest', async () => {
    const engine = new StubImages(
      [
        image('sha256:running', ['other:1']),
        image('sha256:made-from', []),
        image('sha256:tagged', ['registry.example/dev:2']),
        image('sha256:pinned', [], [`registry.example/dev@sha256:${'a'.repeat(64)}`]),
        image('sha256:unused', ['registry.example/dev:1']),
      ],
      ['sha256:running'],
    );
    const needed: NeededImage[] = [
      { imageId: 'sha256:made-from', ref: 'not a reference!' },
      { imageId: null, ref: 'registry.example/dev:2' },
      { imageId: null, ref: `registry.example/dev@sha256:${'a'.repeat(64)}` },
    ];
    const gc = gcOf(engine, needed);
    await recordAt(gc, [['sha256:running', 1], ['sha256:made-from', 2], ['sha256:tagged', 3], ['sha256:pinned', 4], ['sha256:unused', 5]]);
    expect((await gc.run()).removed).toEqual(['sha256:unused']);
    // What is in use counts as used now.
    expect(await usageFile()).toEqual({ 'sha256:running': 1000, 'sha256:made-from': 1000, 'sha256:tagged': 1000, 'sha256:pinned': 1000 });
  });

  it('does not start recording an image it never used because it is in use', async () => {
    const engine = new StubImages([image('sha256:theirs'), image('sha256:mine')], ['sha256:theirs']);
    const gc = gcOf(engine, [], { highPercent: 101 });
    await recordAt(gc, [['sha256:mine', 5]]);
    expect(await gc.run()).toEqual({ removed: [], reclaimedBytes: 0 });
    expect(await usageFile()).toEqual({ 'sha256:mine': 5 });
    expect(reclaimed).toEqual([]);
    expect(logs.filter((l) => l.msg === 'image gc removed unused workspace images')).toEqual([]);
  });

  it('skips an image the engine refuses to remove, keeps its record, and goes on with the next', async () => {
    const engine = new StubImages([image('sha256:stuck'), image('sha256:free')], [], ['sha256:stuck']);
    const gc = gcOf(engine);
    await recordAt(gc, [['sha256:stuck', 1], ['sha256:free', 2]]);
    expect(await gc.run()).toEqual({ removed: ['sha256:free'], reclaimedBytes: 1000 });
    expect(logs.filter((l) => l.msg === 'image gc could not remove an image')).toMatchObject([{ image: 'sha256:stuck', err: 'conflict: sha256:stuck is used by a container' }]);
    expect(await usageFile()).toEqual({ 'sha256:stuck': 1 });
  });

  it('forgets the record of an image removed from the engine by someone else', async () => {
    const engine = new StubImages([image('sha256:kept')]);
    const gc = gcOf(engine, [], { highPercent: 101 });
    await recordAt(gc, [['sha256:kept', 1], ['sha256:gone', 2]]);
    await gc.run();
    expect(await usageFile()).toEqual({ 'sha256:kept': 1 });
  });

  it('reads the record a previous daemon left', async () => {
    await writeFile(path.join(dir, 'image-usage.json'), JSON.stringify({ 'sha256:old': 1, 'sha256:new': 2 }));
    const engine = new StubImages([image('sha256:new'), image('sha256:old')]);
    expect((await gcOf(engine).run()).removed).toEqual(['sha256:old', 'sha256:new']);
  });

  it.each([
    ['an array', '[1]'],
    ['null', 'null'],
    ['a number', '7'],
    ['a time that is not a number', '{"sha256:a": "1"}'],
    ['one time of several that is not a number', '{"sha256:a": 1, "sha256:b": "1"}'],
  ])('sets aside a record that is %s', async (_, text) => {
    await writeFile(path.join(dir, 'image-usage.json'), text);
    const errors: string[] = [];
    const engine = new StubImages([image('sha256:a')]);
    expect((await gcOf(engine, [], { onBookkeepingError: (what) => errors.push(what) }).run()).removed).toEqual([]);
    expect(errors).toEqual(['corrupt']);
  });
});

describe('ImageGc.start and stop', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at every interval until stopped, and logs a run that fails', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = await mkdtemp(path.join(tmpdir(), 'cvm-image-gc-timer-'));
    const logs: { msg: string; err?: string }[] = [];
    let lists = 0;
    const engine = new StubImages([]);
    engine.listImages = () => {
      lists += 1;
      return Promise.reject(new Error('engine down'));
    };
    const gc = new ImageGc({
      engine,
      stateDir: dir,
      highPercent: 85,
      lowPercent: 80,
      diskPath: () => Promise.resolve(dir),
      needed: () => [],
      logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string }) }),
    });
    try {
      gc.start(1000);
      await vi.advanceTimersByTimeAsync(999);
      expect(lists).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      await vi.waitFor(() => {
        expect(logs).toEqual([expect.objectContaining({ msg: 'image gc failed', err: 'engine down' })]);
      });
      await vi.advanceTimersByTimeAsync(1000);
      expect(lists).toBe(2);
      gc.stop();
      await vi.advanceTimersByTimeAsync(5000);
      expect(lists).toBe(2);
      gc.stop();
    } finally {
      gc.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ImageGc bookkeeping (image-usage.json)', () => {
  let dir: string;
  let errors: string[];
  let logs: { level: number; msg: string }[];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cvm-image-gc-'));
    errors = [];
    logs = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const gcIn = (stateDir: string): ImageGc =>
    new ImageGc({
      engine: new FakeEngine(),
      stateDir,
      highPercent: 85,
      lowPercent: 80,
      diskPath: () => Promise.resolve(stateDir),
      needed: () => [],
      logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) }),
      onBookkeepingError: (what) => errors.push(what),
      now: () => 1000,
    });

  it('a failed write fails no use, is logged and counted, and the file is written once the disk recovers', async () => {
    // A file where the state dir should be: the read and every write fail, as on a broken disk.
    const stateDir = path.join(dir, 'state');
    await writeFile(stateDir, '');
    const gc = gcIn(stateDir);
    await expect(gc.recordUse('sha256:a')).resolves.toBeUndefined();
    await expect(gc.recordUse('sha256:b')).resolves.toBeUndefined();
    expect(errors).toEqual(['read', 'write', 'write']);
    expect(logs.filter((l) => l.msg === "image GC could not save its record of image use; workspaces are not affected")).toEqual([
      expect.objectContaining({ err: expect.stringMatching(/^E[A-Z]+: /) as string }),
      expect.objectContaining({ err: expect.stringMatching(/^E[A-Z]+: /) as string }),
    ]);
    expect(logs.filter((l) => l.msg === 'image GC could not read its record of image use; it starts afresh, so older images are not collected')).toEqual([
      expect.objectContaining({ err: expect.stringMatching(/^ENOTDIR: /) as string }),
    ]);

    await rm(stateDir);
    await gc.recordUse('sha256:c');
    expect(JSON.parse(await readFile(path.join(stateDir, 'image-usage.json'), 'utf8'))).toEqual({ 'sha256:a': 1000, 'sha256:b': 1000, 'sha256:c': 1000 });
    expect(errors).toEqual(['read', 'write', 'write']);
  });

  it('a corrupt file is set aside, logged and counted, and GC starts afresh', async () => {
    await writeFile(path.join(dir, 'image-usage.json'), '{"sha256:a": 1');
    const gc = gcIn(dir);
    await expect(gc.recordUse('sha256:b')).resolves.toBeUndefined();
    expect(errors).toEqual(['corrupt']);
    const names = (await readdir(dir)).sort();
    expect(names).toHaveLength(2);
    expect(names[0]).toBe('image-usage.json');
    expect(names[1]).toMatch(/^image-usage\.json\.corrupt-\d+$/);
    expect(await readFile(path.join(dir, names[1] ?? ''), 'utf8')).toBe('{"sha256:a": 1');
    expect(JSON.parse(await readFile(path.join(dir, 'image-usage.json'), 'utf8'))).toEqual({ 'sha256:b': 1000 });
    expect(logs.filter((l) => l.msg === 'image GC found its record of image use corrupt and set it aside; it starts afresh')).toEqual([
      expect.objectContaining({ file: path.join(dir, 'image-usage.json'), setAside: path.join(dir, names[1] ?? '') }),
    ]);
  });

  it('starts with an empty record, and no error, when there is no file yet', async () => {
    const gc = gcIn(dir);
    await gc.recordUse('sha256:a');
    expect(errors).toEqual([]);
    expect(logs).toEqual([]);
  });
});
