/**
 * Image GC against the test engine and the real disk its images live on. The disk cannot be filled here (the
 * engine is shared), so the thresholds are set below the disk's real use (high 1 %, low 0 %): GC must then remove
 * every workspace image it may, and the test checks which ones it may not.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager } from '../../src/daemon/wiring.js';
import { ImageGc } from '../../src/image/image-gc.js';
import type { WorkspaceManager } from '../../src/lifecycle/manager.js';
import { docker, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { ManagerHarness } from '../support/manager.js';

describe('image GC', () => {
  let h: ManagerHarness;
  let manager: WorkspaceManager;
  let gc: ImageGc;
  let work: string;
  const tags: string[] = [];

  /** busybox plus a random layer, so that each image is its own. */
  async function buildImage(name: string): Promise<string> {
    const context = await mkdtemp(path.join(work, 'build-'));
    await writeFile(path.join(context, 'blob'), randomBytes(512 * 1024));
    await writeFile(path.join(context, 'Dockerfile'), `FROM ${BUSYBOX_IMAGE}\nCOPY blob /blob\n`);
    const tag = `cvm-test/gc-${h.prefix}-${name}:1`;
    await docker(['build', '-q', '-t', tag, context], 120_000);
    tags.push(tag);
    return tag;
  }
  const present = async (tag: string): Promise<boolean> => (await docker(['images', '-q', tag])) !== '';

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    work = await mkdtemp(path.join(tmpdir(), 'cvm-gc-test-'));
    h = await ManagerHarness.create('imagegc');
    const info = JSON.parse(await docker(['info', '--format', '{{json .}}'])) as { DockerRootDir: string };
    gc = new ImageGc({
      engine: h.engine,
      stateDir: h.stateDir,
      highPercent: 1,
      lowPercent: 0,
      diskPath: () => Promise.resolve(info.DockerRootDir),
      needed: () => manager.neededImages(),
      logger: pino({ level: 'silent' }),
    });
    manager = createManager(h.config, h.engine, pino({ level: 'silent' }), undefined, gc);
    await manager.init();
  }, 300_000);

  afterAll(async () => {
    await manager.shutdown('keep');
    await h.cleanup();
    for (const tag of tags) await docker(['rmi', '-f', tag]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  it('removes unused workspace images and keeps what workspaces and others need', { timeout: 120_000 }, async () => {
    const [unusedA, unusedB, running, stopped, outdated] = await Promise.all(['unused-a', 'unused-b', 'running', 'stopped', 'outdated'].map(buildImage));
    const notOurs = await buildImage('not-ours');
    const ids = { a: h.id('gc-a'), b: h.id('gc-b'), running: h.id('gc-running'), stopped: h.id('gc-stopped'), outdated: h.id('gc-outdated') };
    const images = { [ids.a]: unusedA, [ids.b]: unusedB, [ids.running]: running, [ids.stopped]: stopped, [ids.outdated]: outdated };
    for (const [id, image] of Object.entries(images)) await manager.put(id, { image: image as string, cvm: false, pullPolicy: 'never' });
    await manager.stop(ids.stopped);
    await manager.idle();
    // Its spec now names another image, but its (stopped) container is still made from this one until a rebuild.
    await manager.put(ids.outdated, { image: notOurs, cvm: false, pullPolicy: 'never' });
    await manager.stop(ids.outdated);
    await manager.idle();
    expect(manager.get(ids.outdated).outdated).toBe(true);
    for (const id of [ids.a, ids.b]) await manager.delete(id, true);
    await manager.idle();
    expect(manager.get(ids.running).phase).toBe('running');
    expect(manager.get(ids.stopped).phase).toBe('stopped');

    const result = await gc.run();

    expect(result.removed).toHaveLength(2);
    expect(result.reclaimedBytes).toBeGreaterThan(2 * 512 * 1024);
    expect(await present(unusedA as string)).toBe(false);
    expect(await present(unusedB as string)).toBe(false);
    for (const kept of [running, stopped, outdated, notOurs, BUSYBOX_IMAGE]) expect(await present(kept as string)).toBe(true);
    // A second run finds nothing more it may remove.
    expect((await gc.run()).removed).toEqual([]);
  });
});
