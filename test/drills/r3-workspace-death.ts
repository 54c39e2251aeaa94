/**
 * R3: a workspace's PID 1 is killed (SIGKILL from outside) or killed for memory (OOM). Must hold: the manager
 * notices within 1 s of the engine's `die` event (it follows the event stream, it does not poll), reports the
 * reason (ContainerExited / OOMKilled), restarts the workspace per policy (on-failure: back to running, restarts 1)
 * and counts the restart in metrics by reason.
 *
 * In-process manager (createManager, as `serve` builds it) against the test engine; busybox keep-alive workspaces
 * with `cvm: false`, so no sysbox stand-in is involved.
 */
import { docker } from '../support/engine.js';
import { EngineEvents } from '../support/engine-events.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { ManagerHarness } from '../support/manager.js';
import { untilPhase } from '../support/until-phase.js';
import type { DrillResult } from './drill.js';

type Death = 'kill' | 'oom';

const EXPECTED_REASON: Record<Death, string> = { kill: 'ContainerExited', oom: 'OOMKilled' };
const NOTICE_LIMIT_MS = 1_000;

async function inflict(death: Death, container: string): Promise<void> {
  if (death === 'kill') {
    await docker(['kill', container]);
    return;
  }
  // PID 1 gets the highest OOM score and the memory is filled in /dev/shm (charged to the cgroup, to no process),
  // so the kernel picks PID 1 (as in test/integration/restart.test.ts).
  await docker(['exec', container, 'sh', '-c', 'echo 1000 > /proc/1/oom_score_adj && dd if=/dev/zero of=/dev/shm/fill bs=1M count=64']).catch(
    () => undefined, // the exec dies with the container
  );
}

export async function drillR3(trials: number): Promise<DrillResult> {
  const restartsByReason = new Map<string, number>();
  const h = await ManagerHarness.create('drill-r3', {
    metrics: {
      stepTook: () => undefined,
      pulled: () => undefined,
      restarted: (reason) => restartsByReason.set(reason, (restartsByReason.get(reason) ?? 0) + 1),
      booted: () => undefined,
      stateFileError: () => undefined,
    },
  });
  const events = new EngineEvents({ type: ['container'], event: ['die'] });
  const lost: string[] = [];
  const noticedMs: number[] = [];
  try {
    await events.ready;
    for (let trial = 0; trial < trials; trial++) {
      for (const death of ['kill', 'oom'] as const) {
        const id = h.id(`${death}-${String(trial)}`);
        await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm: false, resources: { memoryBytes: 16 * 1024 * 1024 } });
        await untilPhase(h.manager, id, 'running');
        const log = h.manager.workspace(id)?.log;
        if (!log) throw new Error(`no log for ${id}`);
        let failedAt = 0;
        const unsubscribe = log.subscribe(() => {
          if (failedAt === 0 && h.manager.get(id).phase === 'failed') failedAt = performance.now();
        });
        const died = events.once((e) => e.Actor.Attributes['name'] === `cvm-${id}`, () => undefined, 30_000, `${id} dies`).then(() => performance.now());
        const restartsBefore = restartsByReason.get(EXPECTED_REASON[death]) ?? 0;
        await inflict(death, `cvm-${id}`);
        const diedAt = await died;
        const reason = await untilPhase(h.manager, id, 'failed', 10_000).then(() => h.manager.get(id).reason, (err: unknown) => `never failed: ${String(err)}`);
        unsubscribe();
        const noticed = Math.max(0, failedAt - diedAt);
        noticedMs.push(noticed);
        const back = await untilPhase(h.manager, id, 'running', 10_000).then(() => true, () => false);
        const status = h.manager.get(id);
        const counted = (restartsByReason.get(EXPECTED_REASON[death]) ?? 0) - restartsBefore;
        console.log(`R3 ${id}: die → failed ${noticed.toFixed(0)} ms, reason ${String(reason)}, running again ${String(back)}, restarts ${String(status.restarts)}, metric +${String(counted)}`);
        if (noticed > NOTICE_LIMIT_MS) lost.push(`${id}: noticed after ${noticed.toFixed(0)} ms (limit ${String(NOTICE_LIMIT_MS)})`);
        if (reason !== EXPECTED_REASON[death]) lost.push(`${id}: reason ${String(reason)}, expected ${EXPECTED_REASON[death]}`);
        if (!back || status.restarts !== 1) lost.push(`${id}: not restarted once (running ${String(back)}, restarts ${String(status.restarts)})`);
        if (counted !== 1) lost.push(`${id}: metric restarts{reason=${EXPECTED_REASON[death]}} went up by ${String(counted)}`);
        await h.manager.delete(id, true);
        await h.manager.idle();
      }
    }
  } finally {
    events.close();
    await h.cleanup();
  }
  const worst = Math.max(...noticedMs);
  return { figures: [`${String(noticedMs.length)} deaths (kill and OOM), die → failed: worst ${worst.toFixed(0)} ms (limit ${String(NOTICE_LIMIT_MS)} ms)`], lost };
}
