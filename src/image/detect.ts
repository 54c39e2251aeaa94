/**
 * Learns an image's facts (init, os-release, users, sleep) from a created but never started inspection
 * container, through the archive API only: a few HEAD/GET requests whatever the image's size.
 */
import { randomBytes } from 'node:crypto';
import { EngineError } from '../engine/errors.js';
import type { Engine, PathStat } from '../engine/types.js';
import { INSPECTION_LABEL } from '../workspace/labels.js';
import type { ImageFacts, InitInfo, OsRelease, PasswdEntry } from './facts.js';
import { describeType, isExecutable, permissionBits } from './filemode.js';
import { parseOsRelease } from './os-release.js';
import { parsePasswd } from './passwd.js';
import { LinkLoopError, type Lstat, type Resolution, resolveInImage } from './resolve.js';

/** The part of the Engine detection needs; having no startContainer here is what keeps the container unstarted. */
export type InspectionEngine = Pick<Engine, 'createContainer' | 'statPath' | 'readFile' | 'removeContainer' | 'listContainers'>;

const INIT_PATH = '/sbin/init';
/** os-release(5): /etc/os-release first, /usr/lib/os-release as the fallback. */
const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];
const PASSWD_PATH = '/etc/passwd';
const SLEEP_PATHS = ['/bin/sleep', '/usr/bin/sleep'];
/** Caps each small file read; a bigger passwd or os-release is treated as absent. */
export const MAX_FACT_FILE_BYTES = 256 * 1024;
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

function octal(mode: number): string {
  return permissionBits(mode).toString(8).padStart(4, '0');
}

/** Pure: what a resolution of /sbin/init means for PID 1. */
export function initFromResolution(resolution: Resolution): InitInfo {
  const noInit = (reason: string): InitInfo => ({ mode: 'keepalive', path: INIT_PATH, target: null, reason });
  switch (resolution.kind) {
    case 'missing':
      return noInit(`${INIT_PATH} does not exist`);
    case 'dangling':
      return noInit(`${INIT_PATH} is a dangling symlink (nothing at ${resolution.path})`);
    case 'loop':
      return noInit(`${INIT_PATH} cannot be resolved (symlink loop)`);
    case 'dir':
      return noInit(`${INIT_PATH} resolves to a directory (${resolution.path})`);
    case 'other':
      return noInit(`${INIT_PATH} resolves to a ${describeType(resolution.mode ?? 0)} (${resolution.path})`);
    case 'file': {
      const mode = resolution.mode ?? 0;
      if (!isExecutable(mode)) return noInit(`${INIT_PATH} resolves to ${resolution.path}, which is not executable (mode ${octal(mode)})`);
      const basename = resolution.path.slice(resolution.path.lastIndexOf('/') + 1);
      return { mode: basename === 'systemd' ? 'systemd' : 'init', path: INIT_PATH, target: resolution.path, reason: null };
    }
  }
}

async function readSmallFile(engine: InspectionEngine, containerId: string, lstat: Lstat, path: string): Promise<string | undefined> {
  const resolution = await resolveInImage(path, lstat);
  if (resolution.kind !== 'file') return undefined;
  const content = await engine.readFile(containerId, resolution.path, MAX_FACT_FILE_BYTES);
  return content?.toString('utf8');
}

async function detectOsRelease(engine: InspectionEngine, containerId: string, lstat: Lstat): Promise<OsRelease | null> {
  for (const path of OS_RELEASE_PATHS) {
    const text = await readSmallFile(engine, containerId, lstat, path);
    if (text !== undefined) return parseOsRelease(text);
  }
  return null;
}

async function detectUsers(engine: InspectionEngine, containerId: string, lstat: Lstat): Promise<PasswdEntry[]> {
  const text = await readSmallFile(engine, containerId, lstat, PASSWD_PATH);
  return text === undefined ? [] : parsePasswd(text);
}

/** The first sleep path that resolves to an executable file. Kept unresolved: busybox dispatches on argv[0]. */
async function detectSleep(lstat: Lstat): Promise<string | null> {
  for (const path of SLEEP_PATHS) {
    const resolution = await resolveInImage(path, lstat);
    if (resolution.kind === 'file' && resolution.mode !== null && isExecutable(resolution.mode)) return path;
  }
  return null;
}

/**
 * Who made an inspection container (the label's value). Daemons sharing an engine (tests, a rolling update) each
 * clean up only their own leftovers; the owner is stable across restarts of one daemon.
 */
export const DEFAULT_INSPECTION_OWNER = 'cvm-supervisor';

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
    const lstat = engineLstat(engine, containerId);
    const [init, osRelease, users, sleepPath] = await Promise.all([
      resolveInImage(INIT_PATH, lstat).then(initFromResolution),
      detectOsRelease(engine, containerId, lstat),
      detectUsers(engine, containerId, lstat),
      detectSleep(lstat),
    ]);
    detected = { imageId, init, osRelease, users, sleepPath };
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

export type DetectFacts = (engine: InspectionEngine, imageId: string) => Promise<ImageFacts>;

/**
 * Facts per image ID: a second workspace on the same image pays nothing, and concurrent requests for one image
 * share one detection. A failed detection is not cached, so the next request tries again.
 */
export class ImageFactsCache {
  private readonly entries = new Map<string, Promise<ImageFacts>>();

  constructor(private readonly detect: DetectFacts = detectImageFacts) {}

  get(engine: InspectionEngine, imageId: string): Promise<ImageFacts> {
    const cached = this.entries.get(imageId);
    if (cached !== undefined) return cached;
    const detection = this.detect(engine, imageId);
    this.entries.set(imageId, detection);
    detection.catch(() => {
      if (this.entries.get(imageId) === detection) this.entries.delete(imageId);
    });
    return detection;
  }
}
