/**
 * An image's facts (init, os-release, users, sleep) from any read-only view of its filesystem: an inspection
 * container through the engine's archive API (inspection-container.ts) or the image's layer directories (layers.ts).
 */
import type { ImageFacts, InitInfo, OsRelease, PasswdEntry } from './facts.js';
import { describeType, isExecutable, permissionBits } from './filemode.js';
import { parseOsRelease } from './os-release.js';
import { parsePasswd } from './passwd.js';
import { type Lstat, type Resolution, resolveInImage } from './resolve.js';

export interface ImageView {
  /** lstat inside the image; see resolve.ts for what may be asked. */
  lstat: Lstat;
  /** Contents of one regular file (a resolved path); undefined when missing or larger than maxBytes. */
  readFile(path: string, maxBytes: number): Promise<Buffer | undefined>;
}

const INIT_PATH = '/sbin/init';
/** os-release(5): /etc/os-release first, /usr/lib/os-release as the fallback. */
const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];
const PASSWD_PATH = '/etc/passwd';
const SLEEP_PATHS = ['/bin/sleep', '/usr/bin/sleep'];
/** Caps each small file read; a bigger passwd or os-release is treated as absent. */
const MAX_FACT_FILE_BYTES = 256 * 1024;

function octal(mode: number): string {
  return permissionBits(mode).toString(8).padStart(4, '0');
}

/** Pure: what a resolution of /sbin/init means for PID 1. */
function initFromResolution(resolution: Resolution): InitInfo {
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

async function readSmallFile(view: ImageView, path: string): Promise<string | undefined> {
  const resolution = await resolveInImage(path, view.lstat);
  if (resolution.kind !== 'file') return undefined;
  const content = await view.readFile(resolution.path, MAX_FACT_FILE_BYTES);
  return content?.toString('utf8');
}

async function detectOsRelease(view: ImageView): Promise<OsRelease | null> {
  for (const path of OS_RELEASE_PATHS) {
    const text = await readSmallFile(view, path);
    if (text !== undefined) return parseOsRelease(text);
  }
  return null;
}

async function detectUsers(view: ImageView): Promise<PasswdEntry[]> {
  const text = await readSmallFile(view, PASSWD_PATH);
  return text === undefined ? [] : parsePasswd(text);
}

/** The first sleep path that resolves to an executable file. Kept unresolved: busybox dispatches on argv[0]. */
async function detectSleep(view: ImageView): Promise<string | null> {
  for (const path of SLEEP_PATHS) {
    const resolution = await resolveInImage(path, view.lstat);
    if (resolution.kind === 'file' && resolution.mode !== null && isExecutable(resolution.mode)) return path;
  }
  return null;
}

export async function factsFromView(imageId: string, view: ImageView): Promise<ImageFacts> {
  const [init, osRelease, users, sleepPath] = await Promise.all([
    resolveInImage(INIT_PATH, view.lstat).then(initFromResolution),
    detectOsRelease(view),
    detectUsers(view),
    detectSleep(view),
  ]);
  return { imageId, init, osRelease, users, sleepPath };
}
