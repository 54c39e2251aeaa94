/**
 * The control plane's path end to end over a real socket: the real `cvm-supervisor serve` with a token file, the
 * test engine, and plain fetch. PUT, follow the build log until `running`, GET, stop, start, rebuild, check
 * /metrics, delete.
 *
 * `sysbox-runc` in the test engine is real sysbox, or the test-only shim over runc on machines without it
 * (test/README.md); these tests hold on both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api-client.js';
import { DaemonProcess } from '../support/daemon-process.js';
import { removeLabelled, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';

const id = `e2e-${randomBytes(3).toString('hex')}`;
const token = randomBytes(16).toString('hex');
let daemon: DaemonProcess;
let base = '';

const api = apiClient(() => base, token);

/** Follows the build log (NDJSON) until an entry with the wanted phase arrives after `afterSeq`. */
async function followUntil(phase: string, afterSeq: number): Promise<number> {
  const controller = new AbortController();
  const timer = setTimeout(() => { controller.abort(); }, 60_000);
  try {
    const res = await fetch(`${base}/v1/workspaces/${id}/events?follow=true`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    if (!res.body) throw new Error('no body');
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        const entry = JSON.parse(line) as { seq: number; data?: { phase?: string } };
        if (entry.seq > afterSeq && entry.data?.phase === phase) return entry.seq;
      }
    }
    throw new Error(`the stream ended before phase ${phase}`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no series ${series} in /metrics`);
  return Number(line.split(' ')[1]);
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: ['sysbox-runc'] });
  const dir = await mkdtemp(join(tmpdir(), 'cvm-e2e-'));
  await writeFile(join(dir, 'token'), `${token}\n`);
  daemon = new DaemonProcess(['--state-dir', join(dir, 'state'), '--token-file', join(dir, 'token'), '--log-level', 'debug'], {});
  const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 15_000, 'listening');
  base = String(listening.msg).replace('Server listening at ', '');
  await daemon.waitForLine((l) => l.msg === 'adopted existing state', 15_000, 'started');
});

afterAll(async () => {
  daemon.kill('SIGTERM');
  const code = await daemon.exited;
  // On failure, say which shutdown step the daemon was in (its debug log names each step done).
  expect(code, JSON.stringify(daemon.lines.slice(-8).map((l) => [l.msg, l.step]))).toBe(0);
  await removeLabelled(`dev.cvm-supervisor.workspace=${id}`);
});

describe('the control-plane path over a real socket', () => {
  it('PUT, follow to running, GET, stop, start, rebuild, metrics, delete', { timeout: 120_000 }, async () => {
    const put = await api('PUT', `/v1/workspaces/${id}`, { image: BUSYBOX_IMAGE, pullPolicy: 'never', username: 'coder' });
    expect(put.status).toBe(201);
    // The log keeps what happened before the follower came, so following after the PUT misses nothing.
    let seq = await followUntil('running', 0);

    const got = await api('GET', `/v1/workspaces/${id}`);
    expect(got.json).toMatchObject({ id, phase: 'running', runtime: 'sysbox-runc', init: { mode: 'keepalive' }, outdated: false });
    const firstContainer = got.json['containerId'];

    const stopped = followUntil('stopped', seq);
    expect((await api('POST', `/v1/workspaces/${id}/stop`)).status).toBe(202);
    seq = await stopped;
    const started = followUntil('running', seq);
    expect((await api('POST', `/v1/workspaces/${id}/start`)).status).toBe(202);
    seq = await started;
    expect((await api('GET', `/v1/workspaces/${id}`)).json['containerId']).toBe(firstContainer);

    const rebuilt = followUntil('running', seq);
    expect((await api('POST', `/v1/workspaces/${id}/rebuild`)).status).toBe(202);
    await rebuilt;
    const afterRebuild = await api('GET', `/v1/workspaces/${id}`);
    expect(afterRebuild.json).toMatchObject({ phase: 'running', outdated: false });
    expect(afterRebuild.json['containerId']).not.toBe(firstContainer);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    // create twice (first create and the rebuild), start three times (create, start, rebuild).
    for (const [phase, atLeast] of [['pull', 2], ['detect', 2], ['create', 2], ['start', 3]] as const) {
      expect(metricValue(metrics, `cvm_supervisor_phase_duration_seconds_count{phase="${phase}"}`)).toBeGreaterThanOrEqual(atLeast);
    }
    expect(metricValue(metrics, 'cvm_supervisor_workspaces{phase="running"}')).toBe(1);
    expect(metricValue(metrics, 'cvm_supervisor_workspaces{phase="failed"}')).toBe(0);
    expect(metrics).toMatch(/cvm_supervisor_http_request_duration_seconds_count\{method="PUT",route="\/v1\/workspaces\/:id",status_code="201"\} 1/);

    expect((await api('DELETE', `/v1/workspaces/${id}?purge=true`)).status).toBe(202);
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < deadline && status !== 404) {
      status = (await api('GET', `/v1/workspaces/${id}`)).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(404);
    const gone = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(gone, 'cvm_supervisor_workspaces{phase="running"}')).toBe(0);
  });
});
