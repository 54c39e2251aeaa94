/**
 * The supervising image as the tests build it: scripts/build-supervisor-image.sh on the locally made base
 * (no registry is reachable, so BASE_IMAGE is SUPERVISOR_BASE_IMAGE), carrying the real sysbox binaries that the
 * test engine runs (the sysbox release package cannot be downloaded here).
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { detectCvmRuntime } from './cvm-runtime.js';
import { testDockerHost } from './engine.js';
import { SUPERVISOR_BASE_IMAGE } from './images.js';

const execFileAsync = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SYSBOX_BUILD = path.resolve(REPO_ROOT, '../shared/sysbox/build.sh');
const SYSBOX_NAMES = ['sysbox-runc', 'sysbox-mgr', 'sysbox-fs'];
export const IMAGE_BUILD_TIMEOUT_MS = 540_000;
/** build.sh compiles for about a minute, plus packages the first time; normally it is cached by engine.sh already. */
const SYSBOX_BUILD_TIMEOUT_MS = 600_000;

export type SysboxBinaries = { dir: string; version: string } | { missing: string };

async function holdsSysbox(dir: string): Promise<boolean> {
  const found = await Promise.all(SYSBOX_NAMES.map((name) => access(path.join(dir, name)).then(() => true, () => false)));
  return found.every(Boolean);
}

async function versionOf(runc: string): Promise<string | undefined> {
  const { stdout } = await execFileAsync(runc, ['--version']);
  return /^\s*version:\s*(\S+)/m.exec(stdout)?.[1];
}

/**
 * The real sysbox binaries on this machine: the directory of the test engine's registered sysbox-runc when that is
 * real sysbox, else what ../shared/sysbox/build.sh builds (cached); else why there are none.
 */
export async function realSysboxBinaries(): Promise<SysboxBinaries> {
  const runtime = await detectCvmRuntime();
  if (runtime.sysbox !== undefined) {
    const dir = path.dirname(runtime.sysbox.runcPath);
    if (await holdsSysbox(dir)) return { dir, version: runtime.sysbox.version };
  }
  if (!(await access(SYSBOX_BUILD).then(() => true, () => false))) {
    return { missing: `the test engine's CVM runtime is ${runtime.description} and there is no ${SYSBOX_BUILD} to build sysbox` };
  }
  const dir = (await execFileAsync(SYSBOX_BUILD, [], { timeout: SYSBOX_BUILD_TIMEOUT_MS })).stdout.trim();
  const version = await versionOf(path.join(dir, 'sysbox-runc'));
  if (version === undefined || !(await holdsSysbox(dir))) return { missing: `${SYSBOX_BUILD} printed ${dir}, which holds no working sysbox` };
  return { dir, version };
}

/**
 * Builds `tag` with scripts/build-supervisor-image.sh: with the sysbox binaries when given, else without sysbox
 * (SYSBOX_VERSION empty). On failure, throws the build's last lines so that the reason is in the test report.
 */
export async function buildSupervisorImage(tag: string, options: { sysbox: SysboxBinaries; revision: string }): Promise<void> {
  const args = [
    ...('dir' in options.sysbox ? ['--sysbox-bin', options.sysbox.dir] : []),
    '-t', tag, '--',
    // --force-rm: a failed step's container is removed too (the legacy builder keeps it otherwise).
    '--force-rm', '--network', 'host', '--build-arg', `REVISION=${options.revision}`,
    ...('dir' in options.sysbox ? [] : ['--build-arg', 'SYSBOX_VERSION=']),
  ];
  try {
    await execFileAsync('scripts/build-supervisor-image.sh', args, {
      cwd: REPO_ROOT,
      env: { ...process.env, DOCKER_HOST: testDockerHost(), DOCKER_BUILDKIT: '0', BASE_IMAGE: SUPERVISOR_BASE_IMAGE },
      timeout: IMAGE_BUILD_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const output = error instanceof Error && 'stdout' in error ? `${String(error.stdout)}\n${String((error as { stderr?: unknown }).stderr)}` : String(error);
    const tail = output.trim().split('\n').slice(-30).join('\n');
    throw new Error(`the supervising image did not build (scripts/build-supervisor-image.sh ${args.join(' ')}):\n${tail}`, { cause: error });
  }
}
