/**
 * Image facts read from the overlay2 layer directories of the real test engine (its data root is on this host,
 * so the daemon's and the engine's views are the same) against the inspection container, the engine's own view,
 * on every test image. LAYERED_IMAGE holds a real opaque directory and real whiteouts written by `docker build`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/engine/docker.js';
import type { ContainerCreateSpec } from '../../src/engine/types.js';
import { createFactsDetector, type LayerAccess } from '../../src/image/facts-detector.js';
import { detectImageFacts, INSPECTION_LABEL } from '../../src/image/inspection-container.js';
import { detectFromLayers, readOpaqueWithGetfattr } from '../../src/image/layers.js';
import { requireTestEngine, testDockerHost } from '../support/engine.js';
import { ALL_TEST_IMAGES, BUSYBOX_IMAGE, LAYERED_IMAGE } from '../support/images.js';
import { ManagerHarness } from '../support/manager.js';
import { untilPhase } from '../support/until-phase.js';

const OWNER = 'detect-layers-test';
const engine = new DockerEngine({ dockerHost: testDockerHost() });
const sameView: LayerAccess = { daemonPathOf: (dir) => dir, readOpaque: readOpaqueWithGetfattr };

/** The engine with createContainer counted: the layer path must never create a container. */
function countingCreates(): { engine: DockerEngine; creates: ContainerCreateSpec[] } {
  const creates: ContainerCreateSpec[] = [];
  const counting = Object.create(engine) as DockerEngine;
  counting.createContainer = (spec) => {
    creates.push(spec);
    return engine.createContainer(spec);
  };
  return { engine: counting, creates };
}

async function imageOf(tag: string): Promise<{ id: string; layerDirs: string[] }> {
  const image = await engine.inspectImage(tag);
  if (image?.layerDirs === undefined) throw new Error(`${tag}: no overlay2 layer directories`);
  return { id: image.id, layerDirs: image.layerDirs };
}

beforeAll(async () => {
  await requireTestEngine({ images: ALL_TEST_IMAGES });
});

describe('image facts from overlay2 layer directories', () => {
  it.each(ALL_TEST_IMAGES)('%s: the same facts as the inspection container, and no container made', async (tag) => {
    const image = await imageOf(tag);
    const counted = countingCreates();
    const fallbacks: string[] = [];
    const detect = createFactsDetector(counted.engine, { owner: OWNER, layers: sameView, onInspectionFallback: (_id, reason) => fallbacks.push(reason) });
    const fromLayers = await detect(image);
    expect(fallbacks).toEqual([]);
    expect(counted.creates).toEqual([]);
    expect(fromLayers).toEqual(await detectImageFacts(engine, image.id, OWNER));
  });

  it('LAYERED_IMAGE: whiteouts and an opaque directory hide what the lower layers hold', async () => {
    const { id, layerDirs } = await imageOf(LAYERED_IMAGE);
    expect(layerDirs).toHaveLength(3);
    const asked: string[][] = [];
    const facts = await detectFromLayers(id, layerDirs, async (dirs) => {
      asked.push(dirs);
      return readOpaqueWithGetfattr(dirs);
    });
    expect(facts.init).toMatchObject({ mode: 'keepalive', reason: '/sbin/init does not exist' });
    expect(facts.sleepPath).toBe('/usr/bin/sleep');
    expect(facts.osRelease).toBeNull(); // the base's /usr/lib/os-release lies under the opaque /usr/lib
    expect(facts.users.map((user) => user.name)).toEqual(['root']);
    // One getfattr batch answered every directory whose opaqueness mattered, and /usr/lib was among the opaque.
    expect(asked).toHaveLength(1);
    const opaque = await readOpaqueWithGetfattr(asked[0] ?? []);
    expect([...opaque].some((dir) => dir.endsWith('/diff/usr/lib'))).toBe(true);
  });

  it('a one-layer image needs no xattr at all', async () => {
    const { id, layerDirs } = await imageOf(BUSYBOX_IMAGE);
    expect(layerDirs).toHaveLength(1);
    const facts = await detectFromLayers(id, layerDirs, () => Promise.reject(new Error('asked for xattrs')));
    expect(facts.init.mode).toBe('keepalive');
  });

  it('falls back to an inspection container, saying why, when the layers are not visible to the daemon', async () => {
    const image = await imageOf(LAYERED_IMAGE);
    for (const [access, detected, expected] of [
      [{ daemonPathOf: () => null, readOpaque: readOpaqueWithGetfattr }, image, /outside the host root/],
      [{ daemonPathOf: (dir: string) => `/nonexistent-host-root${dir}`, readOpaque: readOpaqueWithGetfattr }, image, /not a directory here/],
      [sameView, { id: image.id }, /does not report overlay2 layer directories/],
    ] as const) {
      const counted = countingCreates();
      const reasons: string[] = [];
      const detect = createFactsDetector(counted.engine, { owner: OWNER, layers: access, onInspectionFallback: (_id, reason) => reasons.push(reason) });
      const facts = await detect(detected);
      expect(reasons).toEqual([expect.stringMatching(expected)]);
      expect(counted.creates).toHaveLength(1);
      expect(facts.users.map((user) => user.name)).toEqual(['root']);
    }
  });

  it.each([
    ['auto', 0],
    ['inspection', 1],
  ] as const)('the daemon wiring with --image-facts-from %s makes %i inspection container(s) for a new image', { timeout: 60_000 }, async (source, expected) => {
    const h = await ManagerHarness.create(`detect-layers-${source}`, { flags: ['--image-facts-from', source] });
    const inspections: string[] = [];
    const create = h.engine.createContainer.bind(h.engine);
    h.engine.createContainer = (spec) => {
      if (INSPECTION_LABEL in spec.Labels) inspections.push(spec.name);
      return create(spec);
    };
    try {
      const id = h.id('ws');
      await h.manager.put(id, { image: LAYERED_IMAGE, pullPolicy: 'never' });
      await untilPhase(h.manager, id, 'running');
      expect(h.manager.get(id).init).toMatchObject({ mode: 'keepalive', reason: '/sbin/init does not exist' });
      expect(inspections).toHaveLength(expected);
    } finally {
      await h.cleanup();
    }
  });
});
