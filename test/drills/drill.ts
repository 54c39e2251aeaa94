/** What the drills share: their result, a seeded PRNG, the real daemon's start, and the engine's containers. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess } from '../support/daemon-process.js';
import { docker } from '../support/engine.js';

/** What a drill reports: its figures, and every guarantee it saw broken (empty when all held). */
export interface DrillResult {
  figures: string[];
  lost: string[];
}

export const WORKSPACE_LABEL = 'dev.cvm-supervisor.workspace';

/** mulberry32: a tiny seeded PRNG, so a run can be repeated. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A short temp dir (unix socket paths under it must stay below 108 bytes). */
export function drillDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `cvm-${prefix}-`));
}

export interface StartedDaemon {
  daemon: DaemonProcess;
  base: string;
  spawnedAt: number;
}

/** Spawns dist/main.js serve with these flags and resolves once it listens (its /v1 may still answer 503). */
export async function startDaemon(args: readonly string[]): Promise<StartedDaemon> {
  const spawnedAt = performance.now();
  const daemon = new DaemonProcess(args, {});
  const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 20_000, 'listening');
  return { daemon, base: String(listening.msg).replace('Server listening at ', ''), spawnedAt };
}

/** Waits until /v1 answers (503 until the daemon has adopted its workspaces). */
export async function untilApiServes(base: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while ((await fetch(`${base}/v1/workspaces`).then((r) => r.status, () => 0)) !== 200) {
    if (performance.now() > deadline) throw new Error(`${base}/v1 not serving after ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The engine's containers of workspaces whose id starts with `${prefix}-`: workspace id → container states. */
export async function containersByWorkspace(prefix: string, dockerHost?: string): Promise<Map<string, string[]>> {
  const host = dockerHost === undefined ? [] : ['-H', dockerHost];
  const out = await docker([...host, 'ps', '-a', '--filter', `label=${WORKSPACE_LABEL}`, '--format', `{{.Label "${WORKSPACE_LABEL}"}} {{.State}}`]);
  const found = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const [id = '', state = ''] = line.split(' ');
    if (id.startsWith(`${prefix}-`)) found.set(id, [...(found.get(id) ?? []), state]);
  }
  return found;
}

export interface Listed {
  id: string;
  phase: string;
}

/** The daemon's workspaces whose id starts with `${prefix}-`; null when /v1/workspaces does not answer 200. */
export async function listed(base: string, prefix: string): Promise<Listed[] | null> {
  const res = await fetch(`${base}/v1/workspaces`).catch(() => null);
  if (res?.status !== 200) return null;
  return ((await res.json()) as { workspaces: Listed[] }).workspaces.filter((w) => w.id.startsWith(`${prefix}-`));
}

/**
 * What is still wrong (empty once converged): unsettled phases, duplicates, orphans, containers in the wrong state.
 * With `containerEach`, a workspace without a container is wrong too.
 */
export async function divergence(base: string, prefix: string, containerEach = false): Promise<string[]> {
  const workspaces = await listed(base, prefix);
  if (!workspaces) return ['/v1/workspaces does not answer 200'];
  const containers = await containersByWorkspace(prefix);
  const problems: string[] = [];
  for (const w of workspaces) {
    const states = containers.get(w.id) ?? [];
    if (w.phase !== 'running' && w.phase !== 'stopped') problems.push(`${w.id} is ${w.phase}`);
    if (states.length > 1) problems.push(`${w.id} has ${String(states.length)} containers (duplicate)`);
    if (containerEach && states.length === 0) problems.push(`${w.id} has no container`);
    if (w.phase === 'running' && states[0] !== 'running') problems.push(`${w.id} is running, its container ${states[0] ?? 'missing'}`);
    if (w.phase === 'stopped' && states[0] === 'running') problems.push(`${w.id} is stopped, its container running`);
  }
  for (const id of containers.keys()) if (!workspaces.some((w) => w.id === id)) problems.push(`${id}: container of no workspace (orphan)`);
  return problems;
}
