/**
 * `cvm-supervisor serve --engine embedded` with real sysbox: the real binary starts sysbox-mgr, sysbox-fs and its own
 * dockerd (registering sysbox-runc) under a temp state dir, next to the shared test engine, which must stay
 * undisturbed. The test engine's sysbox runs in the host's mount namespace and sysbox allows one per mount namespace,
 * so the daemon runs in one of its own (test/support/embedded.ts). The embedded engine starts empty: the test loads
 * cvm-test/bookworm-systemd:1 into it. Figures are printed as `figure:` lines.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIREWALL_COMMENT } from '../../src/daemon/api-firewall.js';
import { bridgeMacFor, bridgeNameFor } from '../../src/engine/embedded-plan.js';
import { type DaemonLogLine, DaemonProcess, MAIN } from '../support/daemon-process.js';
import {
  aliveIn,
  connectFromContainer,
  controlListener,
  copyImage,
  dockerAt,
  forgetNeighbours,
  httpStatus,
  inOwnMountNamespace,
  inputRulesOn,
  linkExists,
  macOf,
  mountNamespaceOf,
  sysboxBinDir,
  until,
  withLowestMacPort,
} from '../support/embedded.js';
import { requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../support/images.js';

const token = randomBytes(32).toString('hex');
const workspace = `emb-${randomBytes(4).toString('hex')}`;
let base = '';
const dirs = { state: '', run: '', data: '' };
let sysbox: { dir: string; version: string } | { missing: string } = { missing: 'not looked for yet' };
let current: { daemon: DaemonProcess; port: number; mountNs: string } | null = null;
let containerId = '';

const embeddedHost = (): string => `unix://${path.join(dirs.run, 'docker.sock')}`;
const url = (route: string): string => `http://127.0.0.1:${String(current?.port ?? 0)}${route}`;
const figure = (what: string, ms: number): void => { console.info(`figure: embedded ${what}: ${(ms / 1000).toFixed(1)} s`); };
const logTail = (): string => `; daemon log tail: ${JSON.stringify(current?.daemon.lines.filter((l) => l['reqId'] === undefined).slice(-8) ?? [])}`;

async function api(method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url(route), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** serve --engine embedded in a mount namespace of its own, with sysbox on PATH; resolves once it listens. */
async function serveEmbedded(): Promise<{ daemon: DaemonProcess; port: number; mountNs: string }> {
  if (!('dir' in sysbox)) throw new Error(sysbox.missing);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const serve = [process.execPath, MAIN, 'serve', '--engine', 'embedded', '--state-dir', dirs.state, '--run-dir', dirs.run, '--listen', `0.0.0.0:${String(port)}`, '--token-file', path.join(base, 'token')];
  // Planted: the children must not see them (they get PATH and proxy settings only).
  const env = { PATH: `${sysbox.dir}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, CODER_AGENT_TOKEN: 'planted-agent-token', CVM_TEST_PLANTED: 'planted' };
  const daemon = new DaemonProcess([], env, inOwnMountNamespace(serve));
  current = { daemon, port, mountNs: '' };
  await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 15_000, 'listening');
  current.mountNs = await mountNamespaceOf(daemon.pid);
  return current;
}

const withMsg = (msg: string) => (l: DaemonLogLine): boolean => l.msg === msg;
const indexOfMsg = (lines: readonly DaemonLogLine[], msg: string, from = 0): number => lines.findIndex((l, i) => i >= from && l.msg === msg);

async function systemdState(): Promise<string | undefined> {
  const answer = await dockerAt(embeddedHost(), ['exec', containerId, 'systemctl', 'is-system-running']).catch((e: unknown) => (e as { stdout?: string }).stdout?.trim() ?? '');
  return answer === 'running' || answer === 'degraded' ? answer : undefined;
}

async function workspaceRunning(): Promise<Record<string, unknown> | undefined> {
  const { json } = await api('GET', `/v1/workspaces/${workspace}`);
  if (json['phase'] === 'failed') throw new Error(`the workspace failed: ${JSON.stringify(json)}`);
  return json['phase'] === 'running' ? json : undefined;
}

describe('serve --engine embedded with real sysbox, in a mount namespace of its own', () => {
  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE] });
    sysbox = await sysboxBinDir();
    base = await mkdtemp(path.join(tmpdir(), 'cvm-embedded-'));
    Object.assign(dirs, { state: path.join(base, 'state'), run: path.join(base, 'run'), data: path.join(base, 'state', 'engine') });
    await writeFile(path.join(base, 'token'), `${token}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    if (current?.daemon.running === true) {
      current.daemon.kill('SIGTERM');
      await current.daemon.exited;
    }
    // The daemon's mounts lived in its own mount namespace, gone with it; the files stay on disk.
    await rm(base, { recursive: true, force: true });
  }, 120_000);

  it('preflight --engine embedded, before serve: checks what its own engine needs, from the programs it would run', async (context) => {
    if (!('dir' in sysbox)) {
      context.skip(`no real sysbox here: ${sysbox.missing}`);
      return;
    }
    const argv = [MAIN, 'preflight', '--json', '--engine', 'embedded', '--state-dir', dirs.state, '--run-dir', dirs.run];
    const env = { PATH: `${sysbox.dir}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
    // Exit 0 or 1 (a check of this machine may fail), never 2: the mode is supported.
    const { stdout, code } = await promisify(execFile)(process.execPath, argv, { env }).then(
      (r) => ({ stdout: r.stdout, code: 0 }),
      (err: unknown) => ({ stdout: String((err as { stdout?: unknown }).stdout), code: Number((err as { code?: unknown }).code) }),
    );
    expect([0, 1]).toContain(code);
    const checks = Object.fromEntries((JSON.parse(stdout) as { checks: { id: string; status: string; evidence: string }[] }).checks.map((c) => [c.id, c]));
    expect(checks['embedded-engine']?.status).toBe('pass');
    expect(checks['sysbox']).toMatchObject({ status: 'pass', evidence: expect.stringContaining(path.join(sysbox.dir, 'sysbox-mgr')) as unknown });
    expect(checks['runtime']).toMatchObject({ status: 'pass', evidence: `serve --engine embedded registers sysbox-runc=${path.join(sysbox.dir, 'sysbox-runc')}` });
    expect(checks['engine']).toMatchObject({ status: 'pass', evidence: expect.stringContaining('serve --engine embedded starts its own dockerd there') as unknown });
  }, 60_000);

  it('starts sysbox and its dockerd, registers sysbox-runc, checks the engine it runs, and becomes ready', async (context) => {
    if (!('dir' in sysbox)) {
      context.skip(`no real sysbox here: ${sysbox.missing}`);
      return;
    }
    const spawnedAt = Date.now();
    const { daemon } = await serveEmbedded();
    await until('/readyz 200', async () => ((await httpStatus(url('/readyz'))) === 200 ? true : undefined), 120_000, logTail);
    figure('serve → /readyz 200', Date.now() - spawnedAt);
    const node = await api('GET', '/v1/node');
    expect(node.json['runtimes']).toContain('sysbox-runc');
    const dockerd = await readFile(path.join(dirs.run, 'dockerd.pid'), 'utf8');
    const cmdline = (await readFile(`/proc/${dockerd.trim()}/cmdline`, 'utf8')).split('\0');
    expect(cmdline).toEqual(expect.arrayContaining(['--data-root', dirs.data, '--host', embeddedHost(), '--add-runtime', `sysbox-runc=${path.join('dir' in sysbox ? sysbox.dir : '', 'sysbox-runc')}`]));

    await daemon.waitForLine(withMsg('preflight done'), 30_000, 'the preflight');
    const lines = daemon.lines;
    expect(lines.filter(withMsg('sysbox-mgr and sysbox-fs serve'))).toHaveLength(1);
    // Once: the first start is no restart (the engine's restart handler stays quiet).
    expect(lines.filter(withMsg('the embedded engine answers'))).toHaveLength(1);
    // The preflight ran once its own engine answered, and checked that engine: no false failures.
    expect(indexOfMsg(lines, 'preflight done')).toBeGreaterThan(indexOfMsg(lines, 'the embedded engine answers'));
    expect(lines.filter((l) => typeof l.msg === 'string' && /^preflight (engine|runtime|host-mounts|sysbox|embedded-\w+|sysbox-access):/.test(l.msg))).toEqual([]);
    // dockerd's routine lines are debug: at info only the daemon's own lines about it remain.
    const dockerdAtInfo = lines.filter((l) => l['child'] === 'dockerd' && l['level'] === 30 && l.msg !== 'started dockerd');
    expect(dockerdAtInfo).toEqual([]);
    // The children see none of the daemon's environment but PATH (the daemon's has planted secrets).
    const sysboxMgr = await readFile(path.join(dirs.run, 'sysbox-mgr.pid'), 'utf8');
    for (const pid of [dockerd, sysboxMgr]) {
      const environ = (await readFile(`/proc/${pid.trim()}/environ`, 'utf8')).split('\0').filter(Boolean).map((v) => v.split('=')[0]);
      expect(environ).toEqual(['PATH']);
    }
  }, 180_000);

  it("runs a systemd CVM loaded into its engine, which keeps the gateway while other veths come and go, and the daemon's port does not answer from inside it", async (context) => {
    if (current === null || (await httpStatus(url('/readyz'))) !== 200) {
      context.skip('not reached: the embedded daemon is not ready');
      return;
    }
    const loadStartedAt = Date.now();
    await copyImage(BOOKWORM_SYSTEMD_IMAGE, embeddedHost());
    figure(`docker save | load of ${BOOKWORM_SYSTEMD_IMAGE}`, Date.now() - loadStartedAt);
    const putAt = Date.now();
    expect((await api('PUT', `/v1/workspaces/${workspace}`, { image: BOOKWORM_SYSTEMD_IMAGE, pullPolicy: 'never' })).status).toBe(201);
    const state = await until('the workspace running', workspaceRunning, 120_000, logTail);
    containerId = String(state['containerId']);
    expect(state['runtime']).toBe('sysbox-runc');
    const booted = await until('systemd running or degraded', systemdState, 120_000);
    const startedAt = Date.parse(await dockerAt(embeddedHost(), ['inspect', '-f', '{{.State.StartedAt}}', containerId]));
    figure(`PUT → systemd ${booted}`, Date.now() - putAt);
    figure(`CVM start → systemd ${booted}`, Date.now() - startedAt);
    expect(await dockerAt(embeddedHost(), ['exec', containerId, 'cat', '/proc/1/comm'])).toBe('systemd');
    const [inside, outside] = (await dockerAt(embeddedHost(), ['exec', containerId, 'cat', '/proc/self/uid_map'])).split(/\s+/);
    expect([inside, Number(outside) > 0]).toEqual(['0', true]);

    // From inside the CVM: the bridge's gateway (the daemon's own network namespace) and the daemon's port.
    const gateway = await dockerAt(embeddedHost(), ['network', 'inspect', 'bridge', '-f', '{{(index .IPAM.Config 0).Gateway}}']);
    const control: { server: Server; port: number } = await controlListener();
    try {
      expect(await connectFromContainer(embeddedHost(), containerId, gateway, control.port)).toBe('connected');
      // Another workspace's veth with the lowest MAC comes and goes while the CVM has the gateway's MAC cached: the
      // CVM still reaches the gateway, as the bridge's MAC is set and never follows its ports' (else it would have
      // cached that veth's MAC and got no answer once it left, for up to a minute).
      const bridge = bridgeNameFor(dirs.data);
      await withLowestMacPort(bridge, async () => {
        await forgetNeighbours(embeddedHost(), containerId);
        expect(await connectFromContainer(embeddedHost(), containerId, gateway, control.port)).toBe('connected');
      });
      expect(await connectFromContainer(embeddedHost(), containerId, gateway, control.port)).toBe('connected');
      expect(await macOf(bridge)).toBe(bridgeMacFor(dirs.data));
      // The daemon's rule (src/daemon/api-firewall.ts, the one --block-api-from-bridge installs) drops it.
      expect(await connectFromContainer(embeddedHost(), containerId, gateway, current.port)).toBe('no answer');
    } finally {
      control.server.close();
    }
    const rules = await inputRulesOn(bridgeNameFor(dirs.data));
    expect(rules).toHaveLength(1);
    expect(rules[0]).toContain(`--dport ${String(current.port)} -m comment --comment "${FIREWALL_COMMENT}" -j DROP`);
  }, 420_000);

  it('SIGTERM stops the workspace, then dockerd, sysbox-fs and sysbox-mgr, leaves sysbox nothing running, and exits 0', async (context) => {
    if (current === null || containerId === '') {
      context.skip('not reached: no CVM ran');
      return;
    }
    const { daemon, mountNs } = current;
    const from = daemon.lines.length;
    const signalledAt = Date.now();
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    figure('SIGTERM → exit (one systemd CVM)', Date.now() - signalledAt);
    const lines = daemon.lines.slice(from);
    const order = [`workspace ${workspace} is stopped`, 'stopped dockerd', 'stopped sysbox-fs', 'stopped sysbox-mgr', 'shutdown complete'];
    const at = order.map((msg) => indexOfMsg(lines, msg));
    expect(at.every((i) => i >= 0), JSON.stringify(order.filter((_, i) => (at[i] ?? -1) < 0))).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // sysbox-mgr still lists the stopped CVM (it forgets a container only when it is removed); nothing runs, so the
    // daemon logs it at info with its reading; no warning from sysbox is left.
    const active = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('The following containers are active'));
    if (active !== undefined) expect(active).toMatchObject({ level: 30, note: expect.stringContaining('none of them runs') as unknown });
    expect(lines.filter((l) => (l['child'] === 'sysbox-mgr' || l['child'] === 'sysbox-fs') && Number(l['level']) >= 40)).toEqual([]);
    expect(await aliveIn(mountNs)).toEqual([]);
    expect(await inputRulesOn(bridgeNameFor(dirs.data))).toEqual([]);
    expect(await linkExists(bridgeNameFor(dirs.data))).toBe(false);
  }, 120_000);

  it('starts again over the same state: adopts the CVM, which boots again; a SIGKILLed dockerd is restarted', async (context) => {
    if (current === null || containerId === '' || current.daemon.running) {
      context.skip('not reached: the first run did not end cleanly');
      return;
    }
    const { daemon } = await serveEmbedded();
    await until('/readyz 200', async () => ((await httpStatus(url('/readyz'))) === 200 ? true : undefined), 120_000, logTail);
    const adopted = await until('the workspace running again', workspaceRunning, 120_000, logTail);
    expect(adopted['containerId']).toBe(containerId);
    await until('systemd running or degraded again', systemdState, 120_000);

    const killed = Number.parseInt(await readFile(path.join(dirs.run, 'dockerd.pid'), 'utf8'), 10);
    process.kill(killed, 'SIGKILL');
    const unready = await until('/readyz 503 naming dockerd', async () => {
      const response = await fetch(url('/readyz'), { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { reasons?: string[] };
      return response.status === 503 && body.reasons?.some((r) => r.startsWith('dockerd exited (SIGKILL)')) === true ? body.reasons : undefined;
    }, 15_000);
    expect(unready.length).toBeGreaterThan(0);
    await until('/readyz 200 again', async () => ((await httpStatus(url('/readyz'))) === 200 ? true : undefined), 120_000, logTail);
    // A restarted dockerd can die once more while the killed one's containerd goes: any later generation will do.
    await daemon.waitForLine((l) => l.msg === 'the embedded engine answers' && Number(l['generation']) >= 2, 10_000, 'the restarted engine');
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(await aliveIn(current.mountNs)).toEqual([]);
  }, 480_000);
});

describe('serve --engine auto', () => {
  let dir = '';
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dir = await mkdtemp(path.join(tmpdir(), 'cvm-auto-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('picks host when a Docker engine answers at --docker-host, else embedded, and says why', async () => {
    const hostAnswers = await dockerAt('unix:///var/run/docker.sock', ['version']).then(() => true, () => false);
    // CVMs off: no sysbox, so this daemon may share the host's mount namespace with the test engine's sysbox.
    const flags = ['--engine', 'auto', '--state-dir', path.join(dir, 'state'), '--run-dir', path.join(dir, 'run'), '--cvm-enabled', 'false', '--listen', '127.0.0.1:0'];
    const daemon = new DaemonProcess(flags, {}, inOwnMountNamespace([process.execPath, MAIN, 'serve', ...flags]));
    const chosen = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('--engine auto chose'), 20_000, 'the auto choice');
    expect(chosen['engine']).toBe(hostAnswers ? 'host' : 'embedded');
    expect(String(chosen['why'])).toContain('unix:///var/run/docker.sock');
    const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 15_000, 'listening');
    const base = String(listening.msg).replace('Server listening at ', '');
    await until('/readyz 200', async () => ((await httpStatus(`${base}/readyz`)) === 200 ? true : undefined), 60_000);
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  }, 120_000);
});
