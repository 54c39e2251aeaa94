/**
 * The real `cvm-supervisor serve` when its startup meets trouble: a state dir it cannot load yet (retried with
 * backoff, the reason in /readyz), a corrupt workspace record (set aside; the others load), and a boot workspace
 * that cannot be declared (the shutdown policy still stops the workspaces it loaded).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api-client.js';
import { DaemonProcess } from '../support/daemon-process.js';
import { engineRequest, removeLabelled, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';

const token = randomBytes(16).toString('hex');
const suffix = randomBytes(3).toString('hex');
/** What the daemon said, before startup was retried, when it gave up for good. */
const STARTUP_GAVE_UP = 'the daemon could not start its workspaces';
let dir: string;
let daemon: DaemonProcess | null = null;
let base = '';
const api = apiClient(() => base, token);

async function serve(stateDir: string, env: Record<string, string> = {}, flags: string[] = []): Promise<DaemonProcess> {
  daemon = new DaemonProcess(['--state-dir', stateDir, '--token-file', join(dir, 'token'), ...flags], env);
  const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 15_000, 'listening');
  base = String(listening.msg).replace('Server listening at ', '');
  return daemon;
}

async function readyReasons(): Promise<string[]> {
  const res = await fetch(`${base}/readyz`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { reasons?: string[] }).reasons ?? [];
}

async function running(name: string): Promise<boolean> {
  const res = await engineRequest('GET', `/containers/${name}/json`);
  return (JSON.parse(res.body) as { State: { Running: boolean } }).State.Running;
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: [] });
  dir = await mkdtemp(join(tmpdir(), 'cvm-startup-'));
  await writeFile(join(dir, 'token'), `${token}\n`);
});

afterEach(async () => {
  if (daemon) {
    daemon.kill('SIGKILL');
    await daemon.exited;
    daemon = null;
  }
});

afterAll(async () => {
  for (const id of [`startup-good-${suffix}`, `startup-policy-${suffix}`]) await removeLabelled(`dev.cvm-supervisor.workspace=${id}`);
  await rm(dir, { recursive: true, force: true });
});

describe('startup recovery', () => {
  it('a state dir it cannot load yet is tried again with backoff, the reason in /readyz, until it loads', async () => {
    const stateDir = join(dir, 'blocked');
    await mkdir(stateDir);
    // A file where the records' directory goes: loading fails until it is gone.
    await writeFile(join(stateDir, 'workspaces'), '');
    const d = await serve(stateDir);
    await d.waitForLine((l) => l.msg === 'loading the workspaces failed; trying again' || l.msg === STARTUP_GAVE_UP, 30_000, 'a failed load');
    expect((await readyReasons()).some((r) => r.startsWith('loading the workspaces failed (attempt 1, next in 1 s): EEXIST'))).toBe(true);
    expect((await api('GET', '/v1/workspaces')).status).toBe(503);

    await rm(join(stateDir, 'workspaces'));
    await d.waitForLine((l) => l.msg === 'adopted existing state', 30_000, 'adopted');
    expect((await readyReasons()).filter((r) => r.includes('loading the workspaces'))).toEqual([]);
    expect((await api('GET', '/v1/workspaces')).status).toBe(200);
  });

  it('a corrupt record is set aside and the other workspaces load', async () => {
    const id = `startup-good-${suffix}`;
    const records = join(dir, 'corrupt', 'workspaces');
    await mkdir(records, { recursive: true });
    await writeFile(join(records, 'torn.json'), '{"id": "torn", "spec": {"ima');
    const good = { id, spec: { image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never' }, desired: 'stopped', generation: 1, pending: null, createdAt: new Date().toISOString(), restarts: 0 };
    await writeFile(join(records, `${id}.json`), JSON.stringify(good));
    const d = await serve(join(dir, 'corrupt'));
    await d.waitForLine((l) => l.msg === 'adopted existing state', 30_000, 'adopted');
    const { json } = await api('GET', '/v1/workspaces');
    expect((json['workspaces'] as { id: string }[]).map((w) => w.id)).toEqual([id]);
    expect((await readdir(records)).filter((n) => n.startsWith('torn.json'))).toEqual([expect.stringMatching(/^torn\.json\.corrupt-\d+$/)]);
    expect(d.lines.some((l) => l.msg === 'a workspace record is not readable as one; set aside, the other workspaces load')).toBe(true);
  });

  it('the shutdown policy stops the loaded workspaces even when the boot workspace could not be declared', async () => {
    const id = `startup-policy-${suffix}`;
    // No GPU on this node: declaring a GPU boot workspace is refused (GpuUnsupported), and retried.
    const d = await serve(join(dir, 'policy'), { CODER_INNER_IMAGE: BUSYBOX_IMAGE, CODER_ADD_GPU: 'true' }, ['--boot-workspace-id', `boot-${suffix}`]);
    await d.waitForLine((l) => l.msg === 'declaring the boot workspace failed; trying again' || l.msg === STARTUP_GAVE_UP, 30_000, 'a failed declaration');
    expect((await api('PUT', `/v1/workspaces/${id}`, { image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never' })).status).toBe(201);
    await d.waitForPhase(id, 'running', 60_000);
    const reasons = await readyReasons();

    d.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    daemon = null;
    expect(await running(`cvm-${id}`)).toBe(false);
    expect(reasons.some((r) => r.startsWith('declaring the boot workspace failed'))).toBe(true);
  });
});
