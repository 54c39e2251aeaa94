/**
 * P6: N busybox workspaces put at once, until all are `running`, vs the raw engine creating and starting N
 * containers with the manager's own body (captured) at the same concurrency, in the same run.
 */
import { randomBytes } from 'node:crypto';
import { removeLabelled } from '../test/support/engine.js';
import { BUSYBOX_IMAGE } from '../test/support/images.js';
import { ManagerHarness } from '../test/support/manager.js';
import { untilPhase } from '../test/support/until-phase.js';
import { captureWorkspaceSpec, rawCopy } from './lifecycle.js';
import { ms, type SummaryRow } from './stats.js';

export async function benchP6(count: number): Promise<SummaryRow[]> {
  const h = await ManagerHarness.create('bench-p6');
  const captured = captureWorkspaceSpec(h);
  const raw = `bench-raw6-${randomBytes(3).toString('hex')}`;
  try {
    // Untimed: warms the image facts cache and captures the body.
    const warm = h.id('warm');
    await h.manager.put(warm, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
    await untilPhase(h.manager, warm, 'running');
    const body = captured.spec;
    if (!body) throw new Error('P6: the manager created no workspace container');

    const ids = Array.from({ length: count }, (_, i) => h.id(`p6-${String(i)}`));
    let started = performance.now();
    await Promise.all(ids.map(async (id) => {
      await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
      await untilPhase(h.manager, id, 'running', 600_000);
    }));
    const managed = performance.now() - started;

    started = performance.now();
    await Promise.all(ids.map(async (_, i) => {
      await h.engine.startContainer(await h.engine.createContainer(rawCopy(body, raw, i)));
    }));
    const engine = performance.now() - started;
    const ratio = managed / engine;
    console.log(`P6 ${String(count)} concurrent creates: daemon ${ms(managed)}, raw engine ${ms(engine)}`);
    return [{ id: 'P6', what: `${String(count)} concurrent create+start`, figure: `${ms(managed)} vs raw ${ms(engine)}: ×${ratio.toFixed(2)}`, target: 'ratio ≤ 1.15', met: ratio <= 1.15 }];
  } finally {
    await removeLabelled(`dev.cvm-supervisor.bench=${raw}`);
    await h.cleanup();
  }
}
