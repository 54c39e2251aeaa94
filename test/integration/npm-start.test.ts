/**
 * `npm start`, the command the README gives, run as a new user would: in a copy of the repository (its own dist/,
 * built by npm's prestart), with no flags. Signals go to the npm process, the process the user started: npm passes
 * them on to the daemon (the start script execs node, so no shell stands between them), which stops gracefully and
 * leaves nothing behind.
 *
 * With no Docker socket answering at the default address (as here), the default engine mode `auto` runs the
 * daemon's own engine. Its defaults (/var/lib/cvm-supervisor, /run/cvm-supervisor) and sysbox's directories are
 * bind mounts in a mount namespace of the test's own (test/support/embedded.ts); only the port comes from the
 * environment (CVM_LISTEN), so that it does not meet another daemon on this machine.
 */
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonLogLine, DaemonProcess } from '../support/daemon-process.js';
import { aliveIn, copyImage, dockerAt, GiveUp, httpStatus, inOwnMountNamespace, mountNamespaceOf, sysboxBinDir, until } from '../support/embedded.js';
import { requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_INIT_IMAGE } from '../support/images.js';
import { REPO_ROOT } from '../support/supervisor-image.js';

/** npm builds (tsc) before it starts: about a minute on a busy machine. */
const START_TIMEOUT_MS = 240_000;
let base = '';
let checkout = '';
const running: DaemonProcess[] = [];
/** The daemons' pids: a daemon that npm orphaned is stopped after the tests, and the test fails. */
const daemons: number[] = [];

const figure = (what: string, ms: number): void => { console.info(`figure: npm start ${what}: ${(ms / 1000).toFixed(1)} s`); };
const randomPort = (): number => 20_000 + Math.floor(Math.random() * 20_000);
const daemonPid = (lines: readonly DaemonLogLine[]): number | undefined => lines.find((l) => typeof l['pid'] === 'number')?.['pid'] as number | undefined;

/** npm's exit code, or 'still running' when it does not exit in time (the signal did not reach the daemon). */
async function exitWithin(npm: DaemonProcess, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => { timer = setTimeout(() => { resolve('still running'); }, ms); });
  const code = await Promise.race([npm.exited, late]);
  clearTimeout(timer);
  return code;
}

/** The daemon's pid, from its log (pino writes it on every line). */
function daemonOf(npm: DaemonProcess): number | undefined {
  const pid = daemonPid(npm.lines);
  if (pid !== undefined && !daemons.includes(pid)) daemons.push(pid);
  return pid;
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readyOrGone(npm: DaemonProcess, port: number): Promise<true | undefined> {
  if (!npm.running) throw new GiveUp('npm start exited');
  return (await httpStatus(`http://127.0.0.1:${String(port)}/readyz`)) === 200 ? true : undefined;
}

/** The repository as a fresh clone has it (sources and lock file), with this checkout's node_modules. */
async function copyCheckout(to: string): Promise<void> {
  for (const name of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src']) {
    await cp(path.join(REPO_ROOT, name), path.join(to, name), { recursive: true });
  }
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(to, 'node_modules'));
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_INIT_IMAGE] });
  base = await mkdtemp(path.join(tmpdir(), 'cvm-npm-start-'));
  checkout = path.join(base, 'checkout');
  await copyCheckout(checkout);
});

afterAll(async () => {
  for (const npm of running) if (npm.running) npm.kill('SIGKILL');
  await Promise.all(running.map((npm) => npm.exited));
  // An orphaned daemon (the signal never reached it) gets its SIGTERM here, so that it stops what it started.
  for (const pid of daemons.filter(alive)) process.kill(pid, 'SIGTERM');
  await until('orphaned daemons gone', () => Promise.resolve(daemons.some(alive) ? undefined : true), 40_000).catch(() => undefined);
  for (const pid of daemons.filter(alive)) process.kill(pid, 'SIGKILL');
  await rm(base, { recursive: true, force: true });
}, 60_000);

describe('npm start', () => {
  it('with no flags and no Docker socket: embedded mode with sysbox, ready, runs a CVM; SIGTERM to npm stops it all', async (context) => {
    const hostEngine = await dockerAt('unix:///var/run/docker.sock', ['version']).then(() => true, () => false);
    const sysbox = await sysboxBinDir();
    if (hostEngine) {
      context.skip('a Docker engine answers at /var/run/docker.sock, so auto picks host mode here');
      return;
    }
    if ('missing' in sysbox) {
      context.skip(`no real sysbox here: ${sysbox.missing}`);
      return;
    }
    const state = path.join(base, 'state');
    const runDir = path.join(base, 'run');
    await mkdir(state);
    await mkdir(runDir);
    const port = randomPort();
    const env = { PATH: `${sysbox.dir}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, HOME: process.env['HOME'] ?? '/root', CVM_LISTEN: `127.0.0.1:${String(port)}` };
    const launch = { ...inOwnMountNamespace(['npm', 'start'], { '/var/lib/cvm-supervisor': state, '/run/cvm-supervisor': runDir }), cwd: checkout };
    const startedAt = Date.now();
    const npm = new DaemonProcess([], env, launch);
    running.push(npm);
    const ownNs = await mountNamespaceOf(process.pid);
    // unshare makes the namespace, then execs: until then the pid is still in this one.
    const mountNs = await until('its mount namespace', async () => {
      const ns = await mountNamespaceOf(npm.pid);
      return ns === ownNs ? undefined : ns;
    }, 10_000);
    const ready = await until('/readyz 200', () => readyOrGone(npm, port), START_TIMEOUT_MS, () => `; npm output: ${JSON.stringify(npm.lines.slice(-8))}; stderr: ${npm.stderr.slice(-8).join(' | ')}`);
    expect(ready).toBe(true);
    figure('(build included) → /readyz 200, embedded, no flags', Date.now() - startedAt);
    const auto = npm.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('--engine auto chose'));
    expect(auto?.['engine']).toBe('embedded');
    // Its storage is the daemon's own, never the machine's /var/lib/docker.
    const ownHost = `unix://${path.join(runDir, 'docker.sock')}`;
    expect(await dockerAt(ownHost, ['info', '--format', '{{.DockerRootDir}}'])).toBe('/var/lib/cvm-supervisor/engine');

    await copyImage(BUSYBOX_INIT_IMAGE, ownHost);
    const put = await fetch(`http://127.0.0.1:${String(port)}/v1/workspaces/first`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: BUSYBOX_INIT_IMAGE, pullPolicy: 'never' }) });
    expect(put.status).toBe(201);
    const workspace = await until('the CVM running', async () => {
      const status = (await (await fetch(`http://127.0.0.1:${String(port)}/v1/workspaces/first`)).json()) as { phase: string; runtime: string | null; containerId: string };
      return status.phase === 'running' ? status : undefined;
    }, 60_000);
    expect(workspace.runtime).toBe('sysbox-runc');
    // The CVM's init lives in mount namespaces of its own: followed by its pid.
    const cvmInit = Number(await dockerAt(ownHost, ['inspect', '-f', '{{.State.Pid}}', workspace.containerId]));
    expect(alive(cvmInit)).toBe(true);

    const daemon = daemonOf(npm);
    expect(alive(daemon)).toBe(true);
    const signalledAt = Date.now();
    npm.kill('SIGTERM');
    expect(await exitWithin(npm, 60_000)).toBe(0);
    figure('SIGTERM to npm → npm exits (one CVM, embedded engine)', Date.now() - signalledAt);
    expect(npm.lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
    expect(alive(daemon)).toBe(false);
    expect(alive(cvmInit)).toBe(false);
    expect(await aliveIn(mountNs)).toEqual([]);
  }, START_TIMEOUT_MS + 120_000);

  it('on the test engine: SIGINT to npm stops the daemon gracefully, and npm exits after it', async () => {
    const port = randomPort();
    const env = { HOME: process.env['HOME'] ?? '/root', DOCKER_HOST: testDockerHost(), CVM_LISTEN: `127.0.0.1:${String(port)}`, CVM_STATE_DIR: path.join(base, 'host-state') };
    const npm = new DaemonProcess([], env, { command: 'npm', args: ['start'], cwd: checkout });
    running.push(npm);
    await until('/readyz 200', () => readyOrGone(npm, port), START_TIMEOUT_MS, () => `; npm output: ${JSON.stringify(npm.lines.slice(-8))}; stderr: ${npm.stderr.slice(-8).join(' | ')}`);
    const daemon = daemonOf(npm);
    expect(alive(daemon)).toBe(true);
    npm.kill('SIGINT');
    expect(await exitWithin(npm, 60_000)).toBe(0);
    const shutdown = npm.lines.find((l) => l.msg === 'shutting down');
    expect(shutdown?.['reason']).toBe('SIGINT');
    expect(npm.lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
    expect(alive(daemon)).toBe(false);
  }, START_TIMEOUT_MS + 60_000);
});
