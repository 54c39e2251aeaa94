/**
 * Init detection and image facts against the real test engine and the images of scripts/build-test-images.sh.
 * For each image: what was detected, and from the engine's event stream, that the inspection container was
 * created, never started, and destroyed. And that the work a detection asks of the engine does not grow with the
 * image (its time is measured in bench/).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/engine/docker.js';
import type { ContainerDetails, EngineEvent } from '../../src/engine/types.js';
import { ImageFactsCache } from '../../src/image/facts-detector.js';
import type { ImageFacts, InitInfo } from '../../src/image/facts.js';
import { detectImageFacts, INSPECTION_LABEL } from '../../src/image/inspection-container.js';

/** The inspection owner of this file's detections (the daemon uses a hash of its state dir). */
const TEST_OWNER = 'detect-test';
import { requireTestEngine, testDockerHost } from '../support/engine.js';
import {
  ALL_TEST_IMAGES,
  BOOKWORM_SYSTEMD_IMAGE,
  BUSYBOX_IMAGE,
  BUSYBOX_INIT_IMAGE,
  INIT_CHAIN_IMAGE,
  INIT_DANGLING_IMAGE,
  INIT_DIR_IMAGE,
  INIT_LOOP_IMAGE,
  INIT_NOEXEC_IMAGE,
  MERGED_USR_IMAGE,
  NO_SLEEP_IMAGE,
} from '../support/images.js';

const engine = new DockerEngine({ dockerHost: testDockerHost() });

/** statPath calls one detection may make: the paths it resolves and the links on their way, memoized (11 on busybox, 14 on bookworm). */
const STAT_CALLS_AT_MOST = 20;

async function imageIdOf(tag: string): Promise<string> {
  const image = await engine.inspectImage(tag);
  if (image === undefined) throw new Error(`image ${tag} is missing (scripts/build-test-images.sh)`);
  return image.id;
}

/**
 * The lifecycle events of the one inspection container made for `imageId` since `since`, up to its destroy.
 * `since` is replayed by the engine, so this can run after the detection finished.
 */
async function inspectionLifecycle(imageId: string, since: bigint): Promise<{ containerId: string; actions: string[] }> {
  const controller = new AbortController();
  const timeout = setTimeout(() => { controller.abort(); }, 10_000);
  const seen: EngineEvent[] = [];
  let containerId: string | undefined;
  try {
    for await (const event of engine.events({
      since,
      filters: { type: ['container'], label: [INSPECTION_LABEL] },
      signal: controller.signal,
    })) {
      if (containerId === undefined && event.action === 'create' && event.attributes['image'] === imageId) containerId = event.id;
      if (event.id !== containerId) continue;
      seen.push(event);
      if (event.action === 'destroy') break;
    }
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
  if (containerId === undefined) throw new Error(`no inspection container was created for ${imageId}`);
  return { containerId, actions: seen.map((event) => event.action) };
}

interface WatchedDetection {
  facts: ImageFacts;
  /** The inspection container's lifecycle in the engine's event log, from create to destroy. */
  actions: string[];
  inspectionContainerId: string;
  /** Every Engine method detection called, in order. */
  calls: string[];
  /** The container's state as the engine reported it just before detection removed it. */
  stateBeforeRemoval: ContainerDetails['state'] | undefined;
  /** The bytes of every file read through the engine's archive API. */
  bytesRead: number;
}

/**
 * The real engine, with a record of every method called, the bytes its readFile calls returned, and the
 * container's state looked up before removal.
 */
function watchedEngine(calls: string[], onRead: (bytes: number) => void, onRemove: (state: ContainerDetails['state'] | undefined) => void): DockerEngine {
  return new Proxy(engine, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]) => {
        calls.push(property);
        if (property === 'removeContainer' && typeof args[0] === 'string') onRemove((await target.inspectContainer(args[0]))?.state);
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (property === 'readFile' && result instanceof Buffer) onRead(result.length);
        return result;
      };
    },
  });
}

async function detectWatched(tag: string): Promise<WatchedDetection> {
  const imageId = await imageIdOf(tag);
  const calls: string[] = [];
  let stateBeforeRemoval: ContainerDetails['state'] | undefined;
  let bytesRead = 0;
  const watched = watchedEngine(
    calls,
    (bytes) => {
      bytesRead += bytes;
    },
    (state) => {
      stateBeforeRemoval = state;
    },
  );
  const since = BigInt(Date.now()) * 1_000_000n;
  const facts = await detectImageFacts(watched, imageId, TEST_OWNER);
  const { containerId, actions } = await inspectionLifecycle(imageId, since);
  return { facts, actions, inspectionContainerId: containerId, calls, stateBeforeRemoval, bytesRead };
}

type ExpectedInit = Pick<InitInfo, 'mode' | 'target'> & { reason: RegExp | null };

const cases: { tag: string; init: ExpectedInit; sleepPath: string | null }[] = [
  { tag: BUSYBOX_IMAGE, init: { mode: 'keepalive', target: null, reason: /does not exist/ }, sleepPath: '/bin/sleep' },
  { tag: BUSYBOX_INIT_IMAGE, init: { mode: 'init', target: '/bin/busybox', reason: null }, sleepPath: '/bin/sleep' },
  { tag: INIT_DANGLING_IMAGE, init: { mode: 'keepalive', target: null, reason: /dangling symlink \(nothing at \/nonexistent\/init\)/ }, sleepPath: '/bin/sleep' },
  { tag: INIT_CHAIN_IMAGE, init: { mode: 'init', target: '/bin/busybox', reason: null }, sleepPath: '/bin/sleep' },
  { tag: INIT_LOOP_IMAGE, init: { mode: 'keepalive', target: null, reason: /symlink loop/ }, sleepPath: '/bin/sleep' },
  { tag: INIT_DIR_IMAGE, init: { mode: 'keepalive', target: null, reason: /directory/ }, sleepPath: '/bin/sleep' },
  { tag: INIT_NOEXEC_IMAGE, init: { mode: 'keepalive', target: null, reason: /not executable \(mode 0644\)/ }, sleepPath: '/bin/sleep' },
  { tag: MERGED_USR_IMAGE, init: { mode: 'systemd', target: '/usr/lib/systemd/systemd', reason: null }, sleepPath: '/bin/sleep' },
  { tag: NO_SLEEP_IMAGE, init: { mode: 'keepalive', target: null, reason: /does not exist/ }, sleepPath: null },
  { tag: BOOKWORM_SYSTEMD_IMAGE, init: { mode: 'systemd', target: '/usr/lib/systemd/systemd', reason: null }, sleepPath: '/bin/sleep' },
];

describe('detectImageFacts on the real engine', () => {
  beforeAll(async () => {
    await requireTestEngine({ images: ALL_TEST_IMAGES });
  });

  it.each(cases)('$tag: init $init.mode', async ({ tag, init, sleepPath }) => {
    const { facts, actions, inspectionContainerId, calls, stateBeforeRemoval } = await detectWatched(tag);

    expect(facts.imageId).toBe(await imageIdOf(tag));
    expect(facts.init.path).toBe('/sbin/init');
    expect(facts.init.mode).toBe(init.mode);
    expect(facts.init.target).toBe(init.target);
    if (init.reason === null) expect(facts.init.reason).toBeNull();
    else expect(facts.init.reason).toMatch(init.reason);
    expect(facts.sleepPath).toBe(sleepPath);

    // Created, never started (not even attempted: a failed start leaves no event but an exit code), removed.
    expect(actions[0]).toBe('create');
    expect(actions.at(-1)).toBe('destroy');
    expect(actions).not.toContain('start');
    expect(new Set(calls)).toEqual(new Set(['createContainer', 'statPath', 'readFile', 'removeContainer']));
    expect(calls.filter((call) => call === 'createContainer' || call === 'removeContainer')).toEqual(['createContainer', 'removeContainer']);
    expect(calls.at(-1)).toBe('removeContainer');
    expect(stateBeforeRemoval).toMatchObject({ status: 'created', running: false, pid: 0, exitCode: 0, startedAt: '0001-01-01T00:00:00Z' });
    expect(await engine.inspectContainer(inspectionContainerId)).toBeUndefined();
    // Only this file's inspections: other test files run daemons on this engine at the same time.
    expect(await engine.listContainers([`${INSPECTION_LABEL}=${TEST_OWNER}`])).toEqual([]);
  });

  it('reads os-release and passwd of the busybox images through the /etc/os-release link', async () => {
    const { facts } = await detectWatched(BUSYBOX_IMAGE);
    expect(facts.osRelease).toEqual({ id: 'busybox', idLike: [], versionId: null });
    expect(facts.users).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
      { name: 'coder', uid: 1000, gid: 1000, home: '/home/coder', shell: '/bin/sh' },
    ]);
  });

  it('reads os-release (../usr/lib/os-release) and passwd of the bookworm image', async () => {
    const { facts } = await detectWatched(BOOKWORM_SYSTEMD_IMAGE);
    expect(facts.osRelease).toEqual({ id: 'debian', idLike: [], versionId: '12' });
    expect(facts.users).toContainEqual({ name: 'coder', uid: 1000, gid: 1000, home: '/home/coder', shell: '/bin/bash' });
    expect(facts.users.find((user) => user.name === 'root')?.uid).toBe(0);
  });

  it('ImageFactsCache detects an image once, also for concurrent requests', async () => {
    const imageId = await imageIdOf(BUSYBOX_INIT_IMAGE);
    const since = BigInt(Date.now()) * 1_000_000n;
    const cache = new ImageFactsCache(({ id }) => detectImageFacts(engine, id, TEST_OWNER));
    const [first, second] = await Promise.all([cache.get({ id: imageId }), cache.get({ id: imageId })]);
    const third = await cache.get({ id: imageId });
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(first.init.mode).toBe('init');
    await inspectionLifecycle(imageId, since); // waits for the one inspection's destroy event
    const creates: string[] = [];
    const controller = new AbortController();
    // The replay up to now holds every create since `since`; a short window is enough to drain it.
    setTimeout(() => { controller.abort(); }, 1_000);
    for await (const event of engine.events({ since, filters: { type: ['container'], label: [INSPECTION_LABEL], event: ['create'] }, signal: controller.signal })) {
      if (event.attributes['image'] === imageId) creates.push(event.id);
    }
    expect(creates).toHaveLength(1);
  });

  // The time it takes is a benchmark's business (bench/lifecycle.ts, P2); here, the work, which must not grow
  // with the image: a few metadata lookups and the small fact files, never the image's content.
  it('costs the same engine work on a 2 MB and a 400 MB image: calls and bytes read do not grow with its size', async () => {
    const costOf = async (tag: string) => {
      const { calls, bytesRead } = await detectWatched(tag);
      const count = (method: string): number => calls.filter((call) => call === method).length;
      const sizeBytes = (await engine.inspectImage(tag))?.sizeBytes ?? 0;
      return { sizeBytes, calls: calls.length, statPath: count('statPath'), readFile: count('readFile'), bytesRead };
    };
    const small = await costOf(BUSYBOX_IMAGE);
    const large = await costOf(BOOKWORM_SYSTEMD_IMAGE);
    console.log(`figure: detection cost ${JSON.stringify({ small, large })}`);
    expect(large.sizeBytes).toBeGreaterThan(100 * small.sizeBytes);
    for (const cost of [small, large]) {
      // os-release and passwd: two small files, each read once.
      expect(cost.readFile).toBe(2);
      expect(cost.bytesRead).toBeLessThan(16 * 1024);
      expect(cost.statPath).toBeLessThanOrEqual(STAT_CALLS_AT_MOST);
      expect(cost.calls).toBe(2 + cost.statPath + cost.readFile);
    }
  });
});
