/**
 * The control plane's path, over HTTP to the real daemon (`dist/main.js serve` in a child process), each next to
 * the raw engine in the same run, alternating:
 * - P1H: PUT → `running` seen on the build log followed with `?follow=true`, vs the engine's create+start of the
 *   body the daemon sends (captured from the same code in-process: the body is a pure function of the spec and the
 *   image's and node's facts), for runc (`cvm: false`) and sysbox-runc (`cvm: true`), cached busybox.
 * - P10: time to usable, PUT → the build log's `boot` entry (`ready`), for the systemd test image on sysbox, vs raw
 *   create+start of the same body followed by `systemctl is-system-running --wait` by exec (asked again, as the
 *   daemon does, while systemd's bus is not up yet).
 * Each workspace and raw container is removed, with its volumes, before the next run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerCreateSpec } from '../src/engine/types.js';
import { bootExec, systemdSettled } from '../src/lifecycle/boot-checks.js';
import type { WorkspaceSpec } from '../src/spec/workspace-spec.js';
import { removeLabelled, testDockerHost } from '../test/support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../test/support/images.js';
import { ManagerHarness } from '../test/support/manager.js';
import { untilRunning } from '../test/support/until-phase.js';
import { captureWorkspaceSpec, rawCopy } from './lifecycle.js';
import { freePort } from './ports.js';
import { ms, percentile, type SummaryRow } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface LogEntry {
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

class Daemon {
  private constructor(
    readonly base: string,
    private readonly child: ChildProcess,
    private readonly stateDir: string,
  ) {}

  static async start(): Promise<Daemon> {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvm-bench-usable-'));
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/main.js', 'serve', '--listen', `127.0.0.1:${port}`, '--state-dir', stateDir, '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, DOCKER_HOST: testDockerHost() },
      stdio: 'ignore',
    });
    const daemon = new Daemon(`http://127.0.0.1:${port}`, child, stateDir);
    for (let attempt = 0; attempt < 200; attempt++) {
      if ((await fetch(`${daemon.base}/v1/workspaces`).then((r) => r.status, () => 0)) === 200) return daemon;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await daemon.stop();
    throw new Error('the daemon did not start');
  }

  /** PUT, then follow the build log until `done` accepts an entry; the milliseconds from sending the PUT. */
  async putUntil(id: string, spec: WorkspaceSpec, done: (entry: LogEntry) => boolean): Promise<number> {
    const started = performance.now();
    const put = await fetch(`${this.base}/v1/workspaces/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    if (put.status !== 201) throw new Error(`PUT ${id}: ${put.status} ${await put.text()}`);
    const abort = new AbortController();
    const events = await fetch(`${this.base}/v1/workspaces/${id}/events?follow=true`, { signal: abort.signal });
    const reader = events.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined;
    if (!reader) throw new Error('no build log body');
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) throw new Error(`the build log of ${id} ended first`);
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (line.trim() === '') continue;
          const entry = JSON.parse(line) as LogEntry;
          if (entry.kind === 'failure') throw new Error(`${id} failed: ${entry.message}`);
          if (done(entry)) return performance.now() - started;
        }
      }
    } finally {
      abort.abort();
    }
  }

  async purge(id: string): Promise<void> {
    await fetch(`${this.base}/v1/workspaces/${id}?purge=true`, { method: 'DELETE' });
    for (let attempt = 0; attempt < 600; attempt++) {
      if ((await fetch(`${this.base}/v1/workspaces/${id}`)).status === 404) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${id} was not deleted`);
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

/** The create body the daemon's code makes for `spec`, from an in-process manager on the same engine. */
async function capturedBody(spec: WorkspaceSpec): Promise<ContainerCreateSpec> {
  const h = await ManagerHarness.create('bench-capture');
  const captured = captureWorkspaceSpec(h);
  try {
    const id = h.id('capture');
    await h.manager.put(id, spec);
    await untilRunning(h.manager, id, 120_000);
    if (!captured.spec) throw new Error('no body captured');
    return captured.spec;
  } finally {
    await h.cleanup();
  }
}

const isRunning = (e: LogEntry): boolean => e.kind === 'phase' && e.message === 'running';
const isBooted = (e: LogEntry): boolean => {
  if (e.kind !== 'boot') return false;
  if (e.data?.['state'] !== 'ready') throw new Error(`boot ${String(e.data?.['state'])}: ${e.message}`);
  return true;
};

/**
 * Alternating runs of the daemon (PUT → `until` on the build log) and the raw engine (create+start of the captured
 * body, then `rawAfter`). The first pair is untimed (caches, first start of the runtime).
 */
async function sideBySide(daemon: Daemon, label: string, spec: WorkspaceSpec, runs: number, until: (e: LogEntry) => boolean, rawAfter?: (h: ManagerHarness, containerId: string) => Promise<void>): Promise<{ managed: number[]; raw: number[] }> {
  const body = await capturedBody(spec);
  const h = await ManagerHarness.create('bench-raw');
  const raw = `bench-raw-${randomBytes(3).toString('hex')}`;
  const prefix = `bench-${label}-${randomBytes(3).toString('hex')}`;
  const samples = { managed: [] as number[], raw: [] as number[] };
  try {
    for (let run = -1; run < runs; run++) {
      const id = `${prefix}-${run + 1}`;
      const managed = await daemon.putUntil(id, spec, until);
      await daemon.purge(id);
      const started = performance.now();
      const containerId = await h.engine.createContainer(rawCopy(body, raw, run + 1));
      await h.engine.startContainer(containerId);
      await rawAfter?.(h, containerId);
      const took = performance.now() - started;
      await removeLabelled(`dev.cvm-supervisor.bench=${raw}`);
      if (run < 0) continue;
      samples.managed.push(managed);
      samples.raw.push(took);
    }
  } finally {
    await removeLabelled(`dev.cvm-supervisor.bench=${raw}`);
    await h.cleanup();
  }
  return samples;
}

function compare(id: string, what: string, s: { managed: number[]; raw: number[] }, goal: { ratio: number; overheadMs?: number }, runtime: string): SummaryRow {
  const [m50, m95, r50, r95] = [percentile(s.managed, 50), percentile(s.managed, 95), percentile(s.raw, 50), percentile(s.raw, 95)];
  const ratio = m50 / r50;
  const overhead = m50 - r50;
  console.log(`${id} ${what} (${s.managed.length} alternating runs): daemon p50 ${ms(m50)} p95 ${ms(m95)}; raw p50 ${ms(r50)} p95 ${ms(r95)}`);
  const target = `ratio ≤ ${goal.ratio.toFixed(2)}${goal.overheadMs === undefined ? '' : `, overhead ≤ ${goal.overheadMs} ms`}`;
  const met = ratio <= goal.ratio && (goal.overheadMs === undefined || overhead <= goal.overheadMs);
  return { id, what, figure: `${ms(m50)} vs raw ${ms(r50)}: ×${ratio.toFixed(2)}, ${overhead >= 0 ? '+' : ''}${ms(overhead)}`, target, met, runtime };
}

/** P1 over HTTP for runc and sysbox-runc. */
export async function benchP1Http(runs: number): Promise<SummaryRow[]> {
  const daemon = await Daemon.start();
  try {
    const rows: SummaryRow[] = [];
    for (const [runtime, cvm] of [['runc', false], ['sysbox-runc', true]] as const) {
      const samples = await sideBySide(daemon, runtime, { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm }, runs, isRunning);
      rows.push(compare('P1H', `HTTP PUT → running, busybox, ${runtime}`, samples, { ratio: 1.1, overheadMs: 25 }, runtime));
    }
    return rows;
  } finally {
    await daemon.stop();
  }
}

/** P10: PUT → boot ready for the systemd image on sysbox, vs create+start+`systemctl is-system-running --wait`. */
export async function benchP10(runs: number): Promise<SummaryRow[]> {
  const daemon = await Daemon.start();
  try {
    const settled = async (h: ManagerHarness, containerId: string): Promise<void> => {
      const outcome = await systemdSettled(bootExec(h.engine), containerId, { timeoutMs: 300_000, signal: new AbortController().signal });
      if (!outcome?.ok) throw new Error(`raw systemd did not settle: ${outcome?.detail ?? 'aborted'}`);
    };
    const samples = await sideBySide(daemon, 'systemd', { image: BOOKWORM_SYSTEMD_IMAGE, pullPolicy: 'never' }, runs, isBooted, settled);
    return [compare('P10', 'HTTP PUT → boot ready, systemd, sysbox-runc', samples, { ratio: 1.05 }, 'sysbox-runc')];
  } finally {
    await daemon.stop();
  }
}
