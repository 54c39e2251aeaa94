import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore, type WorkspaceRecord } from '../../../src/lifecycle/store.js';

function record(id: string): WorkspaceRecord {
  return {
    id,
    spec: { image: 'busybox', pullAuth: { dockerConfigJson: '{"auths":{}}' } },
    desired: 'running',
    generation: 1,
    pending: { op: 'create' },
    createdAt: '2026-11-25T00:00:00.000Z',
    restarts: 0,
  };
}

describe('StateStore', () => {
  it('round-trips records, keeps secrets root-only and removes torn temp files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvm-store-'));
    const store = new StateStore(dir);
    await store.init();
    await store.save(record('b'));
    await store.save(record('a'));
    await store.save({ ...record('a'), generation: 2, pending: null });
    const all = await store.loadAll();
    expect(all.map((r) => [r.id, r.generation])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect((await stat(join(dir, 'workspaces', 'a.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'workspaces'))).mode & 0o777).toBe(0o700);

    await writeFile(join(dir, 'workspaces', 'a.json.abc.tmp'), '{"torn');
    await new StateStore(dir).init();
    expect(await readdir(join(dir, 'workspaces'))).toEqual(['a.json', 'b.json']);

    await store.remove('a');
    expect((await store.loadAll()).map((r) => r.id)).toEqual(['b']);
  });
});

describe('StateStore, concurrent saves of one workspace', () => {
  it('ends with the record of the last save called, whichever write finishes first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvm-store-'));
    const store = new StateStore(dir);
    await store.init();
    for (let round = 1; round <= 40; round++) {
      // Saves called in this order, without waiting: the file must hold the last one.
      const saves = [1, 2, 3, 4].map((n) => store.save({ ...record('a'), generation: round * 10 + n }));
      await Promise.all(saves);
      expect((await store.loadAll())[0]?.generation).toBe(round * 10 + 4);
    }
  });
});
