/**
 * R2: the engine restarts under running workspaces, again and again: dockerd gets SIGTERM (even restarts) or
 * SIGKILL (odd ones), is started again on the same data root, and the real binary (dist/main.js serve) lives on.
 * The engine is a private dockerd (private-engine.ts), never the shared test engine. Must hold:
 *  - /healthz answers 200 to every probe (polled every 50 ms throughout);
 *  - /readyz answers 503 only during an outage: from the signal to the moment the engine answers a ping again,
 *    plus READY_TOLERANCE_MS (the probe caches its engine check for 2 s); a 503 sent at any other time is lost;
 *  - /readyz answers 200 within 5 s of the engine answering again;
 *  - every workspace is `running` again (the API's phase, and exactly one container per workspace, running).
 *
 * Busybox workspaces with the default `cvm: true` on the default network: their runtime is the private engine's
 * `sysbox-runc` (the shim), their network its own bridge.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonProcess } from '../support/daemon-process.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersByWorkspace, drillDir, type DrillResult, listed, startDaemon, untilApiServes } from './drill.js';
import { PrivateEngine } from './private-engine.js';

const WORKSPACES = 3;
const PROBE_INTERVAL_MS = 50;
const READY_LIMIT_MS = 5_000;
/** The readiness probe's engine check is cached for 2 s (src/api/readiness.ts); one probe interval on top. */
const READY_TOLERANCE_MS = 2_000 + PROBE_INTERVAL_MS;
const RUNNING_LIMIT_MS = 30_000;

interface Probe {
  sentAt: number;
  answeredAt: number;
  healthz: number;
  readyz: number;
}

interface Outage {
  signalledAt: number;
  upAt: number;
}

function status(url: string): Promise<number> {
  return fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    async (res) => {
      await res.arrayBuffer();
      return res.status;
    },
    () => 0,
  );
}

/** Polls both probes every 50 ms until stopped. */
function probeContinuously(base: string): { probes: Probe[]; stop: () => Promise<void> } {
  const probes: Probe[] = [];
  const state = { stopped: false };
  const loop = (async () => {
    while (!state.stopped) {
      const sentAt = performance.now();
      const [healthz, readyz] = await Promise.all([status(`${base}/healthz`), status(`${base}/readyz`)]);
      probes.push({ sentAt, answeredAt: performance.now(), healthz, readyz });
      await sleep(Math.max(0, PROBE_INTERVAL_MS - (performance.now() - sentAt)));
    }
  })();
  return {
    probes,
    stop: async () => {
      state.stopped = true;
      await loop;
    },
  };
}

/** What keeps the workspaces from counting as running again (empty when they all are). */
async function notRunning(base: string, prefix: string, ids: readonly string[], engine: PrivateEngine): Promise<string[]> {
  const workspaces = await listed(base, prefix);
  if (!workspaces) return ['/v1/workspaces does not answer 200'];
  const phases = new Map(workspaces.map((w) => [w.id, w.phase]));
  const containers = await containersByWorkspace(prefix, engine.dockerHost).catch(() => new Map<string, string[]>());
  const problems: string[] = [];
  for (const id of ids) {
    const states = containers.get(id) ?? [];
    if (phases.get(id) !== 'running') problems.push(`${id} is ${phases.get(id) ?? 'missing'}`);
    if (states.length !== 1 || states[0] !== 'running') problems.push(`${id}'s containers: ${states.join(',') || 'none'}`);
  }
  return problems;
}

async function until(check: () => Promise<boolean>, limitMs: number, from: number): Promise<number | null> {
  while (!(await check())) {
    if (performance.now() - from > limitMs) return null;
    await sleep(PROBE_INTERVAL_MS);
  }
  return performance.now() - from;
}

export async function drillR2(restarts: number): Promise<DrillResult> {
  const prefix = `drill-r2-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: WORKSPACES }, (_, i) => `${prefix}-${String(i)}`);
  const dir = await drillDir(prefix);
  const tag = prefix.slice(-6);
  // 172.31.254.0/24 is the shared test engine's (scripts/engine.sh); this one is drawn from the prefix's random part.
  const engine = new PrivateEngine(dir, prefix, `cvmr2-${tag}`, `172.31.${String(100 + (parseInt(tag, 16) % 150))}.1/24`);
  const lost: string[] = [];
  const figures: string[] = [];
  const readyMs: number[] = [];
  const runningMs: number[] = [];
  const outages: Outage[] = [];
  let daemon: DaemonProcess | null = null;
  let prober: ReturnType<typeof probeContinuously> | null = null;
  try {
    await engine.start();
    await engine.loadImage(BUSYBOX_IMAGE);
    const started = await startDaemon(['--docker-host', engine.dockerHost, '--state-dir', `${dir}/state`, '--shutdown-policy', 'keep']);
    daemon = started.daemon;
    const base = started.base;
    await untilApiServes(base);
    for (const id of ids) {
      const res = await fetch(`${base}/v1/workspaces/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image: BUSYBOX_IMAGE, pullPolicy: 'never' }),
      });
      if (res.status !== 201) throw new Error(`PUT ${id}: ${String(res.status)} ${await res.text()}`);
    }
    const settled = await until(async () => (await notRunning(base, prefix, ids, engine)).length === 0, RUNNING_LIMIT_MS, performance.now());
    if (settled === null) throw new Error(`workspaces never ran: ${(await notRunning(base, prefix, ids, engine)).join('; ')}`);
    if ((await status(`${base}/readyz`)) !== 200) throw new Error('/readyz is not 200 before the first restart');

    prober = probeContinuously(base);
    for (let restart = 0; restart < restarts; restart++) {
      const signal = restart % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
      const signalledAt = performance.now();
      await engine.stop(signal);
      const downMs = performance.now() - signalledAt;
      await engine.start();
      const upAt = performance.now();
      outages.push({ signalledAt, upAt });
      const ready = await until(() => Promise.resolve(prober?.probes.some((p) => p.sentAt >= upAt && p.readyz === 200) ?? false), 3 * READY_LIMIT_MS, upAt);
      const running = await until(async () => (await notRunning(base, prefix, ids, engine)).length === 0, RUNNING_LIMIT_MS, upAt);
      const line = `R2 restart ${String(restart + 1)} (${signal}): dockerd gone after ${downMs.toFixed(0)} ms, up again after ${(upAt - signalledAt).toFixed(0)} ms; engine up → /readyz 200 ${ready === null ? 'never' : `${ready.toFixed(0)} ms`}, → all ${String(WORKSPACES)} workspaces running ${running === null ? 'never' : `${running.toFixed(0)} ms`}`;
      console.log(line);
      if (ready === null || ready > READY_LIMIT_MS) lost.push(`restart ${String(restart + 1)}: /readyz 200 ${ready === null ? 'never came' : `after ${ready.toFixed(0)} ms`} (limit ${String(READY_LIMIT_MS)} ms)`);
      else readyMs.push(ready);
      if (running === null) console.log(`R2 the daemon's last log lines:\n${daemon.lines.filter((l) => l['reqId'] === undefined).slice(-12).map((l) => JSON.stringify(l)).join('\n')}`);
      if (running === null) lost.push(`restart ${String(restart + 1)}: not running again after ${String(RUNNING_LIMIT_MS)} ms: ${(await notRunning(base, prefix, ids, engine)).join('; ')}`);
      else runningMs.push(running);
      // A moment of steady state between outages, so a 503 in it would be seen.
      await sleep(1_000);
    }
    await prober.stop();
    const probes = prober.probes;
    const unhealthy = probes.filter((p) => p.healthz !== 200);
    const during = (p: Probe): boolean => outages.some((o) => p.sentAt >= o.signalledAt && p.sentAt <= o.upAt + READY_TOLERANCE_MS);
    const stray503 = probes.filter((p) => p.readyz !== 200 && !during(p));
    // Per outage, the last 503 sent after the engine was up again (before the next signal).
    const lateAfterUp = outages.map((o, i) => {
      const until = outages[i + 1]?.signalledAt ?? Number.POSITIVE_INFINITY;
      return Math.max(0, ...probes.filter((p) => p.readyz !== 200 && p.sentAt >= o.upAt && p.sentAt < until).map((p) => p.sentAt - o.upAt));
    });
    if (unhealthy.length > 0) lost.push(`/healthz answered ${[...new Set(unhealthy.map((p) => p.healthz))].join(',')} to ${String(unhealthy.length)} of ${String(probes.length)} probes`);
    if (stray503.length > 0) lost.push(`/readyz not 200 outside the outages (+${String(READY_TOLERANCE_MS)} ms) to ${String(stray503.length)} probes`);
    figures.push(
      `${String(restarts)} engine restarts (SIGTERM/SIGKILL alternating), ${String(WORKSPACES)} workspaces, ${String(probes.length)} probe pairs: ` +
        `/healthz non-200 ${String(unhealthy.length)}; /readyz 503 outside outage+${String(READY_TOLERANCE_MS)} ms ${String(stray503.length)} ` +
        `(last 503 after engine up: worst ${Math.max(...lateAfterUp).toFixed(0)} ms)`,
      `engine up → /readyz 200: worst ${Math.max(...readyMs).toFixed(0)} ms (limit ${String(READY_LIMIT_MS)} ms); → all workspaces running: worst ${Math.max(...runningMs).toFixed(0)} ms, median ${median(runningMs).toFixed(0)} ms`,
    );
  } finally {
    await prober?.stop();
    daemon?.kill('SIGKILL');
    await daemon?.exited;
    await engine.destroy();
    // DRILL_KEEP=1 keeps the temp dir, with the daemon's log next to dockerd's, for a post-mortem.
    if (process.env['DRILL_KEEP'] === undefined) {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch((err: unknown) => { console.error(`R2: ${dir} not removed: ${String(err)}`); });
    }
    else await writeFile(`${dir}/daemon.log`, (daemon?.lines ?? []).map((l) => JSON.stringify(l)).join('\n'));
  }
  return { figures, lost };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
