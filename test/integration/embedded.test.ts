/**
 * `cvm-supervisor serve --engine embedded`: the real binary runs its own dockerd under a temp data root and run dir,
 * next to the shared test engine (which must stay undisturbed). The embedded engine starts empty: the test copies
 * cvm-test/busybox:1 into it with `docker save | docker load`. Its dockerd has no sysbox-runc (sysbox is not
 * installed here and the test shim is not registered in it), so the workspace is `cvm: false` and CVMs are off.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const run = promisify(execFile);

interface Served {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  log: string[];
}

let base = '';
const dirs = { data: '', run: '', state: '' };
const workspace = `emb-${randomBytes(4).toString('hex')}`;
let current: Served | null = null;
let firstContainerId: string | undefined;

function serve(mode: 'embedded' | 'auto' = 'embedded'): Served {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const args = ['serve', '--engine', mode, '--data-root', dirs.data, '--run-dir', dirs.run, '--state-dir', dirs.state];
  const child = spawn(process.execPath, [MAIN, ...args, '--cvm-enabled', 'false', '--shutdown-policy', 'keep', '--listen', `127.0.0.1:${String(port)}`], {
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { resolve(code); }));
  current = { child, port, exited, log };
  return current;
}

async function status(served: Served, route: string): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${String(served.port)}${route}`)).status;
  } catch {
    return 0;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; daemon log tail: ${current?.log.join('').slice(-2000) ?? ''}`);
    await sleep(100);
  }
}

const embeddedHost = (): string => `unix://${path.join(dirs.run, 'docker.sock')}`;

async function workspaceState(served: Served): Promise<{ phase: string; containerId?: string } | undefined> {
  const response = await fetch(`http://127.0.0.1:${String(served.port)}/v1/workspaces/${workspace}`).catch(() => undefined);
  return response?.status === 200 ? ((await response.json()) as { phase: string; containerId?: string }) : undefined;
}

const running = (served: Served) => () => workspaceState(served).then((s) => (s?.phase === 'running' ? s : undefined));

/** Every process whose command line names the temp dir: dockerd, containerd, shims. */
async function processesUnder(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) found.push(Number(entry));
  }
  return found;
}

/**
 * The pids still alive, with their command lines, so a failure names what was left behind. A zombie counts as
 * gone: it has exited and only waits for this sandbox's PID 1 to reap it.
 */
async function stillAlive(pids: readonly number[]): Promise<string[]> {
  const left: string[] = [];
  for (const pid of pids) {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8').catch(() => '');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (stat === '' || state === 'Z') continue;
    left.push(`${String(pid)} ${(await readFile(`/proc/${String(pid)}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ')}`);
  }
  return left;
}

async function dockerdPid(): Promise<number> {
  const text = await readFile(path.join(dirs.run, 'dockerd.pid'), 'utf8').catch((err: unknown) => {
    throw new Error(`no dockerd pid file; daemon log tail: ${current?.log.join('').slice(-3000) ?? ''}`, { cause: err });
  });
  return Number.parseInt(text, 10);
}

async function stop(served: Served): Promise<number | null> {
  served.child.kill('SIGTERM');
  return served.exited;
}

describe('serve --engine embedded', () => {
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    base = await mkdtemp(path.join(tmpdir(), 'cvm-embedded-'));
    Object.assign(dirs, { data: path.join(base, 'data'), run: path.join(base, 'run'), state: path.join(base, 'state') });
  });

  afterAll(async () => {
    if (current && current.child.exitCode === null && current.child.signalCode === null) await stop(current);
    for (const pid of await processesUnder(base)) process.kill(pid, 'SIGKILL');
    // dockerd leaves its overlay and netns mounts behind; lazily unmount them, deepest first, before removing.
    const mounts = (await run('findmnt', ['-rn', '-o', 'TARGET'])).stdout.split('\n').filter((m) => m.startsWith(base));
    for (const mount of mounts.sort().reverse()) await run('umount', ['-l', mount]).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  it('starts its own dockerd, becomes ready, runs a workspace, and leaves no process behind on SIGTERM', async () => {
    const testEngineBefore = (await run('docker', ['-H', testDockerHost(), 'info', '--format', '{{.ID}}'])).stdout;
    const served = serve();
    // /healthz answers from the start, whatever the engine does.
    await until('/healthz', async () => ((await status(served, '/healthz')) === 200 ? true : undefined), 10_000);
    await until('/readyz 200', async () => ((await status(served, '/readyz')) === 200 ? true : undefined));
    const ownPid = await dockerdPid();
    const cmdline = await readFile(`/proc/${String(ownPid)}/cmdline`, 'utf8');
    expect(cmdline.split('\0')).toEqual(expect.arrayContaining(['dockerd', '--data-root', dirs.data, '--host', embeddedHost()]));

    await run('sh', ['-c', `docker -H "$1" save "$3" | docker -H "$2" load`, 'sh', testDockerHost(), embeddedHost(), BUSYBOX_IMAGE]);
    const put = await fetch(`http://127.0.0.1:${String(served.port)}/v1/workspaces/${workspace}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: BUSYBOX_IMAGE, cvm: false }),
    });
    expect(put.status).toBe(201);
    const state = await until('workspace running', running(served));
    firstContainerId = state.containerId;
    const inEmbedded = (await run('docker', ['-H', embeddedHost(), 'ps', '-q', '--no-trunc'])).stdout;
    expect(inEmbedded).toContain(state.containerId);
    const inTestEngine = (await run('docker', ['-H', testDockerHost(), 'ps', '-aq', '--no-trunc'])).stdout;
    expect(inTestEngine).not.toContain(state.containerId);

    const children = await processesUnder(base);
    expect(children).toContain(ownPid);
    expect(await stop(served)).toBe(0);
    expect(await stillAlive(children)).toEqual([]);
    expect(await processesUnder(base)).toEqual([]);
    // The shared test engine is the same engine, still answering.
    expect((await run('docker', ['-H', testDockerHost(), 'info', '--format', '{{.ID}}'])).stdout).toBe(testEngineBefore);
  });

  it('starts again over the same data root, adopts the workspace, and survives a SIGKILLed dockerd', async () => {
    const served = serve();
    await until('/readyz 200', async () => ((await status(served, '/readyz')) === 200 ? true : undefined));
    const adopted = await until('adopted workspace running', running(served));
    const containers = (await run('docker', ['-H', embeddedHost(), 'ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    expect(firstContainerId).toBeDefined();
    expect(containers).toEqual([firstContainerId]);
    expect(adopted.containerId).toBe(firstContainerId);

    const killed = await dockerdPid();
    process.kill(killed, 'SIGKILL');
    await until('/readyz 503', async () => ((await status(served, '/readyz')) === 503 ? true : undefined), 10_000);
    await until('/readyz 200 again', async () => ((await status(served, '/readyz')) === 200 ? true : undefined));
    expect(await dockerdPid()).not.toBe(killed);
    const again = await until('workspace running again', running(served));
    const inEngine = (await run('docker', ['-H', embeddedHost(), 'inspect', '--format', '{{.State.Running}}', again.containerId ?? ''])).stdout.trim();
    expect(inEngine).toBe('true');

    const children = await processesUnder(base);
    expect(await stop(served)).toBe(0);
    expect(await stillAlive(children)).toEqual([]);
  });

  it('--engine auto picks host when the default Docker socket answers, else embedded', async () => {
    const hostAnswers = await run('docker', ['-H', 'unix:///var/run/docker.sock', 'version']).then(() => true, () => false);
    const served = serve('auto');
    const chosen = await until('the auto choice', () => {
      const line = served.log.join('').split('\n').find((l) => l.includes('--engine auto chose'));
      return Promise.resolve(line === undefined ? undefined : (JSON.parse(line) as { engine: string }).engine);
    });
    expect(chosen).toBe(hostAnswers ? 'host' : 'embedded');
    await until('/readyz 200', async () => ((await status(served, '/readyz')) === 200 ? true : undefined));
    expect(await stop(served)).toBe(0);
  });
});
