/**
 * Learns an image's facts (init, os-release, users, sleep) from a created but never started inspection
 * container, through the archive API only: a few HEAD/GET requests whatever the image's size.
 */
import { randomBytes } from 'node:crypto';
import { EngineError } from '../engine/engine-errors.js';
import type { EngineArchive, EngineContainers, PathStat } from '../engine/types.js';
import type { ImageFacts } from './facts.js';
import { factsFromView } from './image-view.js';
import { LinkLoopError, type Lstat } from './resolve.js';

/** The part of the Engine detection needs; having no startContainer here is what keeps the container unstarted. */
export type InspectionEngine = Pick<EngineContainers, 'createContainer' | 'removeContainer' | 'listContainers'> & Pick<EngineArchive, 'statPath' | 'readFile'>;

/** On the short-lived, never-started inspection container (API.md's labels). */
export const INSPECTION_LABEL = 'dev.cvm-supervisor.inspection';

/** Never run: if anything did start the container, it would fail at once instead of doing work. */
const NEVER_STARTED_ENTRYPOINT = ['/cvm-supervisor-inspection-is-never-started'];

/**
 * The engine's lstat, with dockerd's 500 on a symlink it cannot resolve read as a loop (see resolve.ts).
 * Memoized for one detection: the lookups share prefixes such as /usr and /usr/lib.
 */
function engineLstat(engine: InspectionEngine, containerId: string): Lstat {
  const seen = new Map<string, Promise<PathStat | undefined>>();
  const lstat = async (path: string): Promise<PathStat | undefined> => {
    try {
      return await engine.statPath(containerId, path);
    } catch (error) {
      if (error instanceof EngineError && error.statusCode === 500) throw new LinkLoopError(path);
      throw error;
    }
  };
  return (path) => {
    let result = seen.get(path);
    if (result === undefined) {
      result = lstat(path);
      seen.set(path, result);
    }
    return result;
  };
}

/**
 * Who made an inspection container (the label's value). Daemons sharing an engine (tests, a rolling update) each
 * clean up only their own leftovers; the owner is stable across restarts of one daemon.
 */
const DEFAULT_INSPECTION_OWNER = 'cvm-supervisor';

/** `imageId` should be the image's ID (sha256:...), not a tag: tags move, and the cache is keyed on it. */
export async function detectImageFacts(engine: InspectionEngine, imageId: string, owner = DEFAULT_INSPECTION_OWNER): Promise<ImageFacts> {
  const containerId = await engine.createContainer({
    name: `cvm-inspect-${randomBytes(6).toString('hex')}`,
    Image: imageId,
    Entrypoint: NEVER_STARTED_ENTRYPOINT,
    Cmd: [],
    Labels: { [INSPECTION_LABEL]: owner },
    HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'no' } },
  });
  let detected: ImageFacts;
  try {
    detected = await factsFromView(imageId, {
      lstat: engineLstat(engine, containerId),
      readFile: (path, maxBytes) => engine.readFile(containerId, path, maxBytes),
    });
  } finally {
    // Runs on failure too; a removal error then surfaces instead of a silent leak (removeStaleInspections
    // catches whatever is left at the next daemon start).
    await engine.removeContainer(containerId, { force: true });
  }
  return detected;
}

/** Removes inspection containers a previous run left behind (killed mid-detection). Returns how many. */
export async function removeStaleInspections(engine: InspectionEngine, owner = DEFAULT_INSPECTION_OWNER): Promise<number> {
  const stale = await engine.listContainers([`${INSPECTION_LABEL}=${owner}`]);
  for (const container of stale) await engine.removeContainer(container.id, { force: true });
  return stale.length;
}
