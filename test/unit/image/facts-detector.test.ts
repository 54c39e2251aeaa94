import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFactsDetector, ImageFactsCache, type LayerAccess } from '../../../src/image/facts-detector.js';
import type { ImageFacts } from '../../../src/image/facts.js';
import { INSPECTION_LABEL } from '../../../src/image/inspection-container.js';
import { FakeEngine } from '../../support/fake-engine.js';

describe('createFactsDetector: layers first, else an inspection container', () => {
  let engineDir: string;
  let engine: FakeEngine;
  let imageId: string;
  let fallbacks: [string, string][];
  beforeEach(async () => {
    // The engine's data root, seen by the daemon under /host: one layer holding an os-release.
    engineDir = await mkdtemp(path.join(tmpdir(), 'cvm-facts-'));
    await mkdir(path.join(engineDir, 'diff/etc'), { recursive: true });
    await writeFile(path.join(engineDir, 'diff/etc/os-release'), 'ID=alpine\n');
    engine = new FakeEngine();
    // The fake engine holds files without their directories: the inspection container sees no os-release.
    imageId = engine.addImage('dev');
    fallbacks = [];
  });
  afterEach(async () => {
    await rm(engineDir, { recursive: true, force: true });
  });

  const layers = (readOpaque: LayerAccess['readOpaque'] = () => Promise.resolve(new Set())): LayerAccess => ({
    daemonPathOf: (dir) => (dir.startsWith('/engine/') ? path.join(engineDir, dir.slice('/engine/'.length)) : null),
    readOpaque,
  });
  const detector = (access?: LayerAccess) =>
    createFactsDetector(engine, { owner: 'facts-test', ...(access && { layers: access }), onInspectionFallback: (id, reason) => fallbacks.push([id, reason]) });

  it('reads the layers, through the daemon path of each, and makes no container', async () => {
    const facts = await detector(layers())({ id: imageId, layerDirs: ['/engine/diff'] });
    expect(facts.osRelease?.id).toBe('alpine');
    expect(engine.callsOf('createContainer')).toEqual([]);
    expect(fallbacks).toEqual([]);
  });

  it('uses an inspection container, owned as told, without layer access', async () => {
    const facts = await detector()({ id: imageId, layerDirs: ['/engine/diff'] });
    expect(facts).toMatchObject({ imageId, osRelease: null });
    expect(engine.callsOf('createContainer').map(([spec]) => (spec as { Labels: Record<string, string> }).Labels[INSPECTION_LABEL])).toEqual(['facts-test']);
    expect(fallbacks).toEqual([]);
  });

  it.each([
    ['no layer directories reported', undefined, "the engine's storage driver does not report overlay2 layer directories"],
    ['a layer outside the host root', ['/engine/diff', '/elsewhere/diff'], 'the layer directory /elsewhere/diff lies outside the host root the daemon sees'],
    ['a layer that is not there', ['/engine/missing'], 'is not a directory here'],
  ])('falls back to an inspection container, saying why, with %s', async (_, layerDirs, reason) => {
    const facts = await detector(layers())({ id: imageId, ...(layerDirs && { layerDirs }) });
    expect(facts).toMatchObject({ imageId, osRelease: null });
    expect(engine.callsOf('createContainer')).toHaveLength(1);
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]?.[0]).toBe(imageId);
    expect(fallbacks[0]?.[1]).toContain(reason);
  });

  it('fails, and does not fall back, on an error that is not about reading the layers', async () => {
    await mkdir(path.join(engineDir, 'lower'));
    const broken = layers(() => Promise.reject(new Error('out of memory')));
    await expect(detector(broken)({ id: imageId, layerDirs: ['/engine/diff', '/engine/lower'] })).rejects.toThrow('out of memory');
    expect(fallbacks).toEqual([]);
    expect(engine.callsOf('createContainer')).toEqual([]);
  });
});

describe('ImageFactsCache', () => {
  const factsOf = (imageId: string): ImageFacts => ({
    imageId,
    init: { mode: 'keepalive', path: '/sbin/init', target: null, reason: 'x' },
    osRelease: null,
    users: [],
    sleepPath: null,
  });

  it('shares one detection between concurrent and later requests for the same image', async () => {
    const calls: string[] = [];
    const cache = new ImageFactsCache(({ id: imageId }) => {
      calls.push(imageId);
      return new Promise((resolve) => setTimeout(() => { resolve(factsOf(imageId)); }, 5));
    });
    const [a, b, c] = await Promise.all([cache.get({ id: 'sha256:a' }), cache.get({ id: 'sha256:a' }), cache.get({ id: 'sha256:b' })]);
    expect(a).toBe(b);
    expect(c.imageId).toBe('sha256:b');
    expect(await cache.get({ id: 'sha256:a' })).toBe(a);
    expect(calls).toEqual(['sha256:a', 'sha256:b']);
  });

  it('does not cache a failure', async () => {
    let attempts = 0;
    const cache = new ImageFactsCache(({ id: imageId }) => {
      attempts += 1;
      return attempts === 1 ? Promise.reject(new Error('engine down')) : Promise.resolve(factsOf(imageId));
    });
    await expect(cache.get({ id: 'sha256:a' })).rejects.toThrow('engine down');
    expect((await cache.get({ id: 'sha256:a' })).imageId).toBe('sha256:a');
    expect(attempts).toBe(2);
  });
});
