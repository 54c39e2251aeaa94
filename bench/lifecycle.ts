/**
 * Lifecycle benchmarks, in-process against the test engine with the manager `serve` uses (createManager):
 * - P1: put → `running` for a cached busybox image vs the raw engine's create+start with the container spec the
 *   manager itself sent (captured), alternating runs.
 * - P2: /sbin/init detection on the 2 MB busybox image vs the systemd bookworm image.
 * - P7: a new manager adopting N running workspaces (as after a daemon restart): time to all `running`, and the
 *   number of engine list calls.
 */
import { randomBytes } from 'node:crypto';
import { WORKSPACE_LABEL } from '../src/container/labels.js';
import { ENGINE_INFO_MAX_AGE_MS } from '../src/daemon/wiring.js';
import type { ContainerCreateSpec } from '../src/engine/types.js';
import { createFactsDetector } from '../src/image/facts-detector.js';
import { readOpaqueWithGetfattr } from '../src/image/layers.js';
import { removeLabelled } from '../test/support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE, LAYERED_IMAGE } from '../test/support/images.js';
import { ManagerHarness } from '../test/support/manager.js';
import { untilRunning } from '../test/support/until-phase.js';
import { ms, percentile, type SummaryRow } from './stats.js';

/** The manager as `serve` runs it: the engine's /info answer reused (src/engine/info-cache.ts). */
export const AS_SERVE = { engineInfoMaxAgeMs: ENGINE_INFO_MAX_AGE_MS };

/** Records the last workspace container body the manager sends to the engine. */
export function captureWorkspaceSpec(h: ManagerHarness): { spec: ContainerCreateSpec | null } {
  const captured: { spec: ContainerCreateSpec | null } = { spec: null };
  const create = h.engine.createContainer.bind(h.engine);
  h.engine.createContainer = async (spec) => {
    if (WORKSPACE_LABEL in spec.Labels) captured.spec = spec;
    return create(spec);
  };
  return captured;
}

/** The same body the manager sent, under another name, label and volumes, so neither side sees the other's. */
export function rawCopy(captured: ContainerCreateSpec, raw: string, n: number): ContainerCreateSpec {
  const spec = structuredClone(captured);
  spec.name = `${raw}-${String(n)}`;
  spec.Labels = { 'dev.cvm-supervisor.bench': raw };
  const mounts = spec.HostConfig.Mounts ?? [];
  spec.HostConfig.Mounts = mounts.map((m) => (m.Type === 'volume' ? { ...m, Source: `${raw}-${String(n)}-${m.Target.replaceAll('/', '_')}`, VolumeOptions: { Labels: { 'dev.cvm-supervisor.bench': raw } } } : m));
  return spec;
}

export async function benchP1(runs: number): Promise<SummaryRow[]> {
  const h = await ManagerHarness.create('bench-p1', AS_SERVE);
  const captured = captureWorkspaceSpec(h);
  const raw = `bench-raw-${randomBytes(3).toString('hex')}`;
  const managed: number[] = [];
  const engine: number[] = [];
  try {
    // One untimed run: warms the image facts cache (P2 measures detection) and captures the spec.
    for (let run = -1; run < runs; run++) {
      const id = h.id(`p1-${run + 1}`);
      let started = performance.now();
      await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
      await untilRunning(h.manager, id);
      if (run >= 0) managed.push(performance.now() - started);
      await h.manager.delete(id, true);
      await h.manager.idle();
      if (run < 0 || !captured.spec) continue;
      const spec = rawCopy(captured.spec, raw, run);
      started = performance.now();
      const containerId = await h.engine.createContainer(spec);
      await h.engine.startContainer(containerId);
      engine.push(performance.now() - started);
      await removeLabelled(`dev.cvm-supervisor.bench=${raw}`);
    }
  } finally {
    await removeLabelled(`dev.cvm-supervisor.bench=${raw}`);
    await h.cleanup();
  }
  const [m50, m95, e50, e95] = [percentile(managed, 50), percentile(managed, 95), percentile(engine, 50), percentile(engine, 95)];
  console.log(`P1 put → running (${runs} alternating runs): daemon p50 ${ms(m50)} p95 ${ms(m95)}; raw create+start p50 ${ms(e50)} p95 ${ms(e95)}`);
  const ratio = m50 / e50;
  const overhead = m50 - e50;
  return [{ id: 'P1', what: 'put → running, cached busybox (p50)', figure: `${ms(m50)} vs raw ${ms(e50)}: ×${ratio.toFixed(2)}, +${ms(overhead)} (p95 ${ms(m95)} vs ${ms(e95)})`, target: 'ratio ≤ 1.10, overhead ≤ 25 ms', met: ratio <= 1.1 && overhead <= 25, runtime: 'sysbox-runc' }];
}

/**
 * P2 times the daemon's detector (createFactsDetector, as daemon/wiring.ts wires it) without its per-image cache, so every
 * run detects again: from the layer directories when they are readable here, which the test engine's are. The
 * 3-layer image (an opaque directory and whiteouts, so one getfattr call) is logged for comparison, not targeted.
 */
export async function benchP2(runs: number): Promise<SummaryRow[]> {
  const h = await ManagerHarness.create('bench-p2');
  const tags = [BUSYBOX_IMAGE, BOOKWORM_SYSTEMD_IMAGE, LAYERED_IMAGE];
  const samples = new Map<string, number[]>(tags.map((tag) => [tag, []]));
  const fallbacks: string[] = [];
  const detect = createFactsDetector(h.engine, {
    owner: h.prefix,
    layers: { daemonPathOf: (dir) => dir, readOpaque: readOpaqueWithGetfattr },
    onInspectionFallback: (_id, reason) => fallbacks.push(reason),
  });
  try {
    const images = await Promise.all(tags.map((tag) => h.engine.inspectImage(tag)));
    for (let run = 0; run < runs; run++) {
      for (const [i, tag] of tags.entries()) {
        const image = images[i];
        if (image === undefined) throw new Error(`P2 needs ${tag} (scripts/build-test-images.sh)`);
        const started = performance.now();
        await detect(image);
        samples.get(tag)?.push(performance.now() - started);
      }
    }
  } finally {
    await h.cleanup();
  }
  if (fallbacks.length > 0) console.log(`P2: ${String(fallbacks.length)} detections used an inspection container: ${fallbacks[0] ?? ''}`);
  const [s50, l50, m50] = tags.map((tag) => percentile(samples.get(tag) ?? [], 50)) as [number, number, number];
  console.log(`P2 init detection (${String(runs)} alternating runs): busybox p50 ${ms(s50)}; bookworm-systemd p50 ${ms(l50)}; 3-layer busybox p50 ${ms(m50)}`);
  const ratio = l50 / s50;
  return [{ id: 'P2', what: 'init detection (p50), busybox / systemd', figure: `${ms(s50)} / ${ms(l50)}: large/small ×${ratio.toFixed(2)}`, target: '≤ 10 ms; large/small ≤ 1.2', met: l50 <= 10 && s50 <= 10 && ratio <= 1.2, runtime: 'none (no container)' }];
}

export async function benchP7(count: number): Promise<SummaryRow[]> {
  const h = await ManagerHarness.create('bench-p7', AS_SERVE);
  try {
    const ids = Array.from({ length: count }, (_, i) => h.id(`p7-${i}`));
    for (const id of ids) await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
    await Promise.all(ids.map((id) => untilRunning(h.manager, id, 600_000)));
    await h.manager.shutdown('keep');

    let listCalls = 0;
    const list = h.engine.listContainers.bind(h.engine);
    h.engine.listContainers = (labels) => {
      listCalls++;
      return list(labels);
    };
    const next = h.newManager();
    const started = performance.now();
    await next.init();
    await Promise.all(ids.map((id) => untilRunning(next, id, 60_000)));
    const took = performance.now() - started;
    h.manager = next;
    console.log(`P7 restart with ${count} running workspaces: all running after ${ms(took)}, ${listCalls} engine list calls`);
    return [{ id: 'P7', what: `restart, ${count} workspaces adopted`, figure: `${ms(took)}, ${listCalls} list calls`, target: '≤ 1 s; list calls independent of N', met: took <= 1000 && listCalls <= 2, runtime: 'sysbox-runc' }];
  } finally {
    await h.cleanup();
  }
}
