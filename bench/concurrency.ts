/**
 * P6: N busybox workspaces put at once (CVMs: sysbox-runc), until all are `running`, vs the raw engine creating and
 * starting N containers with the manager's own body (captured) at the same concurrency, in the same run.
 */
import { randomBytes } from 'node:crypto';
import type { ContainerCreateSpec } from '../src/engine/types.js';
import { detectCvmRuntime } from '../test/support/cvm-runtime.js';
import { engineRequest } from '../test/support/engine.js';
import { BUSYBOX_IMAGE } from '../test/support/images.js';
import { ManagerHarness } from '../test/support/manager.js';
import { untilPhase, untilRunning } from '../test/support/until-phase.js';
import { AS_SERVE, captureWorkspaceSpec, rawCopy } from './lifecycle.js';
import { ms, type SummaryRow } from './stats.js';

const RAW_LABEL = 'dev.cvm-supervisor.bench';
/** Removal runs this many requests at a time: one by one, 400 containers took about a minute. */
const REMOVAL_CONCURRENCY = 16;

async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function expectOk(method: string, path: string, accepted: readonly number[]): Promise<string> {
  const response = await engineRequest(method, path);
  if (!accepted.includes(response.status)) throw new Error(`${method} ${path}: ${String(response.status)} ${response.body}`);
  return response.body;
}

/** Removes the containers, then the volumes, whose `key` label passes `keep`, several at a time. */
async function removeLabelledWhere(key: string, matches: (value: string) => boolean): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [key] }));
  const containers = JSON.parse(await expectOk('GET', `/containers/json?all=true&filters=${filters}`, [200])) as { Id: string; Labels: Record<string, string> }[];
  await inParallel(containers.filter((c) => matches(c.Labels[key] ?? '')), REMOVAL_CONCURRENCY, async ({ Id }) => {
    await expectOk('DELETE', `/containers/${Id}?force=true&v=true`, [204, 404]);
  });
  const volumes = (JSON.parse(await expectOk('GET', `/volumes?filters=${filters}`, [200])) as { Volumes: { Name: string; Labels: Record<string, string> | null }[] | null }).Volumes ?? [];
  await inParallel(volumes.filter((v) => matches(v.Labels?.[key] ?? '')), REMOVAL_CONCURRENCY, async ({ Name }) => {
    await expectOk('DELETE', `/volumes/${encodeURIComponent(Name)}?force=true`, [204, 404]);
  });
}

/** One round of the daemon's side: `count` workspaces put at once until all are `running`; the milliseconds. */
async function managedRound(h: ManagerHarness, round: number, count: number): Promise<number> {
  const ids = Array.from({ length: count }, (_, i) => h.id(`p6-${String(round)}-${String(i)}`));
  const started = performance.now();
  await Promise.all(ids.map(async (id) => {
    await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
    await untilRunning(h.manager, id, 600_000);
  }));
  return performance.now() - started;
}

/** One round of the engine's side: `count` copies of the daemon's body created and started at once. */
async function rawRound(h: ManagerHarness, body: ContainerCreateSpec, raw: string, count: number): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    await h.engine.startContainer(await h.engine.createContainer(rawCopy(body, raw, i)));
  }));
  return performance.now() - started;
}

/**
 * `rounds` rounds per side, in the order daemon, raw, raw, daemon, … so that neither side always goes first on a
 * freshly emptied engine. Each side's containers and volumes are removed before the next round.
 */
export async function benchP6(count: number, rounds: number): Promise<SummaryRow[]> {
  const h = await ManagerHarness.create('bench-p6', AS_SERVE);
  const captured = captureWorkspaceSpec(h);
  const raw = `bench-raw6-${randomBytes(3).toString('hex')}`;
  const removeManaged = async (): Promise<void> => {
    // Deleted through the manager, so that it does not restart the workspaces whose containers go.
    await Promise.all(h.manager.list().map((ws) => h.manager.delete(ws.id, true)));
    await h.manager.idle();
  };
  const removeRaw = () => removeLabelledWhere(RAW_LABEL, (value) => value === raw);
  try {
    // Untimed: warms the image facts cache and captures the body.
    const warm = h.id('warm');
    await h.manager.put(warm, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
    await untilPhase(h.manager, warm, 'running');
    const body = captured.spec;
    if (!body) throw new Error('P6: the manager created no workspace container');
    await removeManaged();
    const runtime = body.HostConfig.Runtime ?? 'the engine default';
    const samples = { managed: [] as number[], raw: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const managedFirst = round % 2 === 0;
      for (const side of managedFirst ? ['managed', 'raw'] as const : ['raw', 'managed'] as const) {
        if (side === 'managed') {
          samples.managed.push(await managedRound(h, round, count));
          await removeManaged();
        } else {
          samples.raw.push(await rawRound(h, body, raw, count));
          await removeRaw();
        }
      }
    }
    const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [managed, engine] = [mean(samples.managed), mean(samples.raw)];
    const ratio = managed / engine;
    console.log(`P6 ${String(count)} concurrent creates on ${runtime} (${(await detectCvmRuntime()).description}), ${String(rounds)} rounds: daemon ${samples.managed.map(ms).join(', ')}; raw engine ${samples.raw.map(ms).join(', ')}`);
    return [{ id: 'P6', what: `${String(count)} concurrent create+start, ${runtime}`, figure: `mean ${ms(managed)} vs raw ${ms(engine)}: ×${ratio.toFixed(2)}`, target: 'ratio ≤ 1.15', met: ratio <= 1.15, runtime }];
  } finally {
    await removeRaw();
    await removeManaged();
    await h.cleanup();
  }
}
