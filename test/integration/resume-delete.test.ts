/**
 * A delete interrupted by the daemon's death (found by drill R1, test/drills/r1-daemon-sigkill.ts): the next
 * manager finishes it and the workspace is gone, instead of being listed as `deleting` until yet another restart.
 * In-process against the test engine; a busybox workspace with `cvm: false`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkspaceRecord } from '../../src/lifecycle/store.js';
import { requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, ManagerHarness } from '../support/manager.js';

describe('a delete interrupted by the daemon', () => {
  let h: ManagerHarness;
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    h = await ManagerHarness.create('resdel');
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it('is finished by the next manager, which then no longer lists the workspace', async () => {
    const id = h.id('ws');
    await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm: false });
    await h.waitFor(id, 'running');
    await h.manager.shutdown('keep');
    // What the previous daemon had persisted when it died right after accepting DELETE.
    const file = path.join(h.stateDir, 'workspaces', `${id}.json`);
    const record = JSON.parse(await readFile(file, 'utf8')) as WorkspaceRecord;
    await writeFile(file, JSON.stringify({ ...record, desired: 'stopped', pending: { op: 'delete', purge: false } }));

    const next = h.newManager();
    h.manager = next;
    await next.init();
    await next.idle();
    expect(next.list().map((w) => w.id)).not.toContain(id);
    expect(next.workspace(id)).toBeUndefined();
    expect(await containersOfWorkspace(id)).toEqual([]);
  });
});
