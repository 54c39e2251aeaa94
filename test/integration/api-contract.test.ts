/**
 * The HTTP contract (API.md) through app.inject against the test engine: PUT semantics (201, 200, outdated until a
 * rebuild), the 202 actions (with empty bodies of any content type), DELETE with and without purge, 409 while a
 * workspace is being deleted, 422 refusals, /readyz, and /metrics checked by promtool after real activity.
 * The app is wired as daemon/wiring.ts wires it (test/support/api.ts); the manager is the real one (createManager).
 * Cases that never reach an engine are in test/unit/api/app.test.ts.
 *
 * The test engine's `sysbox-runc` is real sysbox, or the test-only shim over runc on machines without it
 * (test/README.md).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { DockerEngine } from '../../src/engine/docker.js';
import type { WorkspaceStatus } from '../../src/lifecycle/workspace.js';
import { type ApiUnderTest, buildApiUnderTest, expectApiError } from '../support/api.js';
import { CVM_RUNTIME, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, sleep, volumesOfWorkspace } from '../support/manager.js';

const RUN = randomBytes(3).toString('hex');
const usedIds: string[] = [];
/** A workspace id unique to this run of this file (several people share the engine); remembered for cleanup. */
function workspaceId(name: string): string {
  const id = `api-contract-${RUN}-${name}`;
  usedIds.push(id);
  return id;
}

const json = { 'content-type': 'application/json' };
const busybox = (extra: Record<string, unknown> = {}) => ({ image: BUSYBOX_IMAGE, pullPolicy: 'never', ...extra });

function apiOver(flags: readonly string[] = []): Promise<ApiUnderTest> {
  return buildApiUnderTest({
    engine: new DockerEngine({ dockerHost: testDockerHost() }),
    flags: ['--docker-host', testDockerHost(), ...flags],
    init: true,
  });
}

async function getWorkspace(api: ApiUnderTest, id: string): Promise<{ statusCode: number; body: string }> {
  return api.app.inject({ method: 'GET', url: `/v1/workspaces/${id}` });
}

/** Polls GET until `done` holds; the error shows the last answer. */
async function waitUntil(api: ApiUnderTest, id: string, what: string, done: (res: { statusCode: number; body: string }) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await getWorkspace(api, id);
    if (done(res)) return res;
    if (Date.now() > deadline) throw new Error(`${id} did not become ${what} within ${timeoutMs} ms; last GET: ${res.statusCode} ${res.body}`);
    await sleep(100);
  }
}

async function waitForPhase(api: ApiUnderTest, id: string, phase: string): Promise<WorkspaceStatus> {
  const res = await waitUntil(api, id, phase, (r) => r.statusCode === 200 && (JSON.parse(r.body) as WorkspaceStatus).phase === phase);
  return JSON.parse(res.body) as WorkspaceStatus;
}

const waitGone = (api: ApiUnderTest, id: string) => waitUntil(api, id, 'gone (404)', (r) => r.statusCode === 404);

/** Runs `promtool check metrics` on `text`; promtool comes from Debian's prometheus package. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error("promtool is not on PATH: install Debian's prometheus package (apt-get install -y prometheus)") : err);
    });
    child.on('close', (code) => {
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}

/** The value of one sample line of the Prometheus text, e.g. sample(text, 'x_count{phase="create"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME] });
});
afterAll(async () => {
  for (const id of usedIds) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
});

describe('workspace routes against the test engine', () => {
  let api: ApiUnderTest;
  const main = workspaceId('main');
  const doomed = workspaceId('doomed');
  beforeAll(async () => {
    api = await apiOver();
  });
  afterAll(async () => {
    await api.close();
  });

  it('/readyz answers 200 when the engine answers and has the CVM runtime', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ status: 'ready' });
  });

  it('PUT answers 201 for a new workspace, then 200 with outdated true after a spec change until a rebuild', async () => {
    const created = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${main}`, payload: busybox({ env: { LEVEL: '1' } }) });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ id: main, outdated: false, image: { ref: BUSYBOX_IMAGE } });
    const running = await waitForPhase(api, main, 'running');
    expect(running.runtime).toBe(CVM_RUNTIME);

    const same = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${main}`, payload: busybox({ env: { LEVEL: '1' } }) });
    expect(same.statusCode, same.body).toBe(200);
    expect(same.json()).toMatchObject({ id: main, outdated: false });

    const changed = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${main}`, payload: busybox({ env: { LEVEL: '2' } }) });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ id: main, outdated: true, phase: 'running', containerId: running.containerId });
    expect((await getWorkspace(api, main)).body).toContain('"outdated":true');
    const list = (await api.app.inject({ method: 'GET', url: '/v1/workspaces' })).json<{ workspaces: WorkspaceStatus[] }>();
    expect(list.workspaces.find((w) => w.id === main)?.outdated).toBe(true);

    // An empty body with Content-Type: application/json is no body.
    const rebuild = await api.app.inject({ method: 'POST', url: `/v1/workspaces/${main}/rebuild`, headers: json, payload: '' });
    expect(rebuild.statusCode, rebuild.body).toBe(202);
    expect(rebuild.json()).toMatchObject({ id: main });
    const rebuilt = await waitUntil(api, main, 'rebuilt', (r) => {
      const status = JSON.parse(r.body) as WorkspaceStatus;
      return status.phase === 'running' && status.containerId !== running.containerId;
    });
    expect(JSON.parse(rebuilt.body)).toMatchObject({ outdated: false, phase: 'running' });
  });

  it('stop, start and restart answer 202 and do their work in the background, whatever an empty body claims to be', async () => {
    const stop = await api.app.inject({ method: 'POST', url: `/v1/workspaces/${main}/stop`, headers: { 'content-type': 'text/plain' }, payload: '' });
    expect(stop.statusCode, stop.body).toBe(202);
    expect(stop.json()).toMatchObject({ id: main });
    await waitForPhase(api, main, 'stopped');

    const start = await api.app.inject({ method: 'POST', url: `/v1/workspaces/${main}/start`, headers: { 'content-type': 'application/octet-stream' }, payload: '' });
    expect(start.statusCode, start.body).toBe(202);
    const started = await waitForPhase(api, main, 'running');

    const restart = await api.app.inject({ method: 'POST', url: `/v1/workspaces/${main}/restart`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(restart.statusCode, restart.body).toBe(202);
    await waitUntil(api, main, 'restarted', (r) => {
      const status = JSON.parse(r.body) as WorkspaceStatus;
      return status.phase === 'running' && status.startedAt !== started.startedAt;
    });
    const noContentType = await api.app.inject({ method: 'POST', url: `/v1/workspaces/${main}/start` });
    expect(noContentType.statusCode, noContentType.body).toBe(202);
  });

  it('an action, a PUT or a rebuild on a workspace being deleted is a 409; without purge its volumes stay', async () => {
    expect((await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${doomed}`, payload: busybox() })).statusCode).toBe(201);
    // Queued behind the create, so it is still being deleted while the next requests come.
    const deleted = await api.app.inject({ method: 'DELETE', url: `/v1/workspaces/${doomed}` });
    expect(deleted.statusCode, deleted.body).toBe(202);
    expect(deleted.json()).toMatchObject({ id: doomed });
    for (const action of ['start', 'stop', 'restart', 'rebuild']) {
      const error = expectApiError(await api.app.inject({ method: 'POST', url: `/v1/workspaces/${doomed}/${action}` }), 409, 'Conflict');
      expect(error.message).toContain(doomed);
    }
    expectApiError(await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${doomed}`, payload: busybox() }), 409, 'Conflict');
    await waitGone(api, doomed);
    expectApiError(await getWorkspace(api, doomed), 404, 'NotFound');
    expect(await containersOfWorkspace(doomed)).toEqual([]);
    expect((await volumesOfWorkspace(doomed)).length).toBeGreaterThan(0);
  });

  it('GET /v1/node and /v1/preflight describe the node', async () => {
    const node = await api.app.inject({ method: 'GET', url: '/v1/node' });
    expect(node.statusCode, node.body).toBe(200);
    expect(node.json()).toMatchObject({ cvmRuntime: CVM_RUNTIME, cvmEnabled: true, runtimes: expect.arrayContaining([CVM_RUNTIME]) as unknown });
    const preflight = await api.app.inject({ method: 'GET', url: '/v1/preflight' });
    expect(preflight.statusCode, preflight.body).toBe(200);
    expect(preflight.json<{ checks: { id: string }[] }>().checks.map((c) => c.id)).toContain('kernel');
  });

  it('/metrics counts the workspaces by phase, has lifecycle and HTTP samples, and promtool finds nothing to complain about', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    // This app's manager holds only `main`, running; `doomed` is gone.
    expect(sample(text, 'cvm_supervisor_workspaces{phase="running"}')).toBe(1);
    expect(sample(text, 'cvm_supervisor_workspaces{phase="deleting"}')).toBe(0);
    // Created twice (PUT, rebuild) for main, once for doomed.
    expect(sample(text, 'cvm_supervisor_phase_duration_seconds_count{phase="create"}')).toBeGreaterThanOrEqual(3);
    for (const phase of ['detect', 'start']) {
      expect(sample(text, `cvm_supervisor_phase_duration_seconds_count{phase="${phase}"}`), phase).toBeGreaterThanOrEqual(1);
    }
    expect(sample(text, 'cvm_supervisor_http_request_duration_seconds_count{method="PUT",route="/v1/workspaces/:id",status_code="201"}')).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain(main);
    const { code, output } = await promtoolCheck(text);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('DELETE ?purge=true answers 202, then 404 once the container and its volumes are gone', async () => {
    expect((await volumesOfWorkspace(main)).length).toBeGreaterThan(0);
    const res = await api.app.inject({ method: 'DELETE', url: `/v1/workspaces/${main}?purge=true` });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ id: main });
    await waitGone(api, main);
    expect(await containersOfWorkspace(main)).toEqual([]);
    expect(await volumesOfWorkspace(main)).toEqual([]);
  });

  it('/readyz turns 503 "shutting down" at once after markShuttingDown', async () => {
    api.readiness.markShuttingDown();
    const res = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unready', reasons: ['shutting down'] });
  });
});

describe('refusals at PUT (422) and readiness without the CVM runtime', () => {
  it('an engine without the CVM runtime: /readyz 503 naming it, PUT cvm:true 422 RuntimeMissing, cvm:false still 201', async () => {
    const api = await apiOver(['--runtime', 'sysbox-runc-missing']);
    const id = workspaceId('no-runtime');
    try {
      const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'unready', reasons: ['the engine has no sysbox-runc-missing runtime'] });

      const refused = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${id}`, payload: busybox({ cvm: true }) });
      expect(expectApiError(refused, 422, 'RuntimeMissing').message).toContain('sysbox-runc-missing');
      expectApiError(await getWorkspace(api, id), 404, 'NotFound');
      expect(await containersOfWorkspace(id)).toEqual([]);

      // Readiness never blocks /v1, and a standard workspace needs no CVM runtime.
      const standard = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${id}`, payload: busybox({ cvm: false }) });
      expect(standard.statusCode, standard.body).toBe(201);
      await waitForPhase(api, id, 'running');
      expect((await api.app.inject({ method: 'DELETE', url: `/v1/workspaces/${id}?purge=true` })).statusCode).toBe(202);
      await waitGone(api, id);
    } finally {
      await api.close();
    }
  });

  it('CVMs disabled: PUT cvm:true is 422 CvmDisabled, and /readyz does not ask for the CVM runtime', async () => {
    const api = await apiOver(['--cvm-enabled', 'false', '--runtime', 'sysbox-runc-missing']);
    const id = workspaceId('disabled');
    try {
      const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode, ready.body).toBe(200);
      const refused = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${id}`, payload: busybox() });
      expectApiError(refused, 422, 'CvmDisabled');
      expectApiError(await getWorkspace(api, id), 404, 'NotFound');
      expect(await containersOfWorkspace(id)).toEqual([]);
    } finally {
      await api.close();
    }
  });
});
