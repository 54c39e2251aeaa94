import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageGc, planImageGc } from '../../../src/image/image-gc.js';
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
    expect(logs.filter((l) => l.msg === "image GC could not save its record of image use; workspaces are not affected")).toHaveLength(2);

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
  });
});
