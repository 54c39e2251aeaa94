/**
 * Which program the test engine runs as `sysbox-runc`: real sysbox (scripts/engine.sh builds it from
 * ../shared/sysbox when it is not installed) or the test-only shim over runc (test/runtime/sysbox-runc-shim), the
 * last resort on machines without either. Tests that only real sysbox can pass skip, saying so, on the shim.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CVM_RUNTIME, docker, engineRequest } from './engine.js';

const run = promisify(execFile);

export interface CvmRuntime {
  /** True when the engine's sysbox-runc is sysbox itself. */
  real: boolean;
  /** One line for the test summary, e.g. "sysbox-runc 0.6.7 (real)". */
  description: string;
  /** Real sysbox only: the registered sysbox-runc's path and its version. */
  sysbox?: { runcPath: string; version: string };
}

export async function detectCvmRuntime(): Promise<CvmRuntime> {
  const info = await engineRequest('GET', '/info').catch(() => null);
  if (info?.status !== 200) return { real: false, description: 'none (no engine answers)' };
  const runtimes = (JSON.parse(info.body) as { Runtimes?: Record<string, { path?: string }> }).Runtimes ?? {};
  const path = runtimes[CVM_RUNTIME]?.path;
  if (path === undefined) return { real: false, description: `none (the engine has no ${CVM_RUNTIME})` };
  if (path.endsWith('sysbox-runc-shim')) return { real: false, description: 'sysbox-runc-shim over runc (test stand-in, not sysbox)' };
  const version = await run(path, ['--version']).then(
    ({ stdout }) => /^\s*version:\s*(\S+)/m.exec(stdout)?.[1],
    () => undefined,
  );
  return version === undefined
    ? { real: false, description: `${path} (not sysbox: it does not answer --version as sysbox-runc does)` }
    : { real: true, description: `sysbox-runc ${version} (real)`, sysbox: { runcPath: path, version } };
}

/** A running container's user namespace: its uid_map as read inside, and the host uid its PID 1 runs as. */
export async function userNamespaceOf(container: string): Promise<{ uidMap: number[][]; pid1HostUid: number }> {
  const uidMap = (await docker(['exec', container, 'cat', '/proc/self/uid_map']))
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number));
  const pid = await docker(['inspect', '--format', '{{.State.Pid}}', container]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { uidMap, pid1HostUid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) };
}

/** The host's own uid_map (no user namespace): every uid maps to itself. */
export const IDENTITY_UID_MAP = [[0, 0, 4294967295]];
