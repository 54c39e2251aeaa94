/**
 * R1: the real binary (dist/main.js serve) is SIGKILLed at random moments of create/start/stop/rebuild/delete
 * requests, then started again on the same state dir. Seeded (DRILL_SEED, default 1) and so reproducible up to the
 * machine's timing. After each restart must hold: converged within 5 s of the spawn (every workspace settled as
 * running or stopped, its container in that state), no workspace with two containers, no container of a workspace
 * the daemon does not know (orphan), and the file seeded in each home volume still there (delete never purges here).
 *
 * Busybox workspaces with `cvm: false`: the sysbox stand-in plays no part.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { DaemonProcess } from '../support/daemon-process.js';
import { docker, removeLabelled } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { divergence, drillDir, type DrillResult, seeded, startDaemon, WORKSPACE_LABEL } from './drill.js';

const CONVERGE_LIMIT_MS = 5_000;
const MAX_KILL_DELAY_MS = 400;
const POOL = 3;

async function seedHome(id: string): Promise<void> {
  await docker(['volume', 'create', '--label', `${WORKSPACE_LABEL}=${id}`, `cvm-${id}-home`]);
  await docker(['run', '--rm', '-v', `cvm-${id}-home:/h`, BUSYBOX_IMAGE, 'sh', '-c', `echo ${id} > /h/keep.txt`]);
}

async function homeKept(id: string): Promise<boolean> {
  return (await docker(['run', '--rm', '-v', `cvm-${id}-home:/h`, BUSYBOX_IMAGE, 'cat', '/h/keep.txt']).catch(() => '')) === id;
}

function request(base: string, id: string, op: string): Promise<unknown> {
  const url = `${base}/v1/workspaces/${id}`;
  const sent =
    op === 'create'
      ? fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm: false }) })
      : op === 'delete'
        ? fetch(url, { method: 'DELETE' })
        : fetch(`${url}/${op}`, { method: 'POST' });
  return sent.catch(() => undefined); // the daemon may die mid-request
}

export async function drillR1(trials: number, seed = Number(process.env['DRILL_SEED'] ?? 1)): Promise<DrillResult> {
  const random = seeded(seed);
  const prefix = `drill-r1-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: POOL }, (_, i) => `${prefix}-${String(i)}`);
  const stateDir = await drillDir(prefix);
  const lost: string[] = [];
  const convergedMs: number[] = [];
  let daemon: DaemonProcess | null = null;
  try {
    for (const id of ids) await seedHome(id);
    for (let trial = 0; trial <= trials; trial++) {
      const started = await startDaemon(['--state-dir', stateDir, '--shutdown-policy', 'keep']);
      daemon = started.daemon;
      let problems = await divergence(started.base, prefix);
      while (problems.length > 0 && performance.now() - started.spawnedAt < 3 * CONVERGE_LIMIT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        problems = await divergence(started.base, prefix);
      }
      const took = performance.now() - started.spawnedAt;
      convergedMs.push(took);
      if (problems.length > 0) lost.push(`trial ${String(trial)}: not converged after ${took.toFixed(0)} ms: ${problems.join('; ')}`);
      else if (took > CONVERGE_LIMIT_MS) lost.push(`trial ${String(trial)}: converged after ${took.toFixed(0)} ms`);
      for (const id of ids) if (!(await homeKept(id))) lost.push(`trial ${String(trial)}: ${id}'s home lost its file`);
      if (trial === trials) break;

      const id = ids[Math.floor(random() * ids.length)] ?? '';
      const known = (await fetch(`${started.base}/v1/workspaces/${id}`)).status === 200;
      const ops = known ? ['start', 'stop', 'rebuild', 'delete', 'restart'] : ['create'];
      const op = ops[Math.floor(random() * ops.length)] ?? 'create';
      const delay = Math.floor(random() * MAX_KILL_DELAY_MS);
      void request(started.base, id, op);
      await new Promise((resolve) => setTimeout(resolve, delay));
      daemon.kill('SIGKILL');
      await daemon.exited;
      console.log(`R1 trial ${String(trial)}: ${op} ${id}, SIGKILL after ${String(delay)} ms; previous restart converged in ${took.toFixed(0)} ms`);
    }
  } finally {
    daemon?.kill('SIGKILL');
    for (const id of ids) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    await rm(stateDir, { recursive: true, force: true });
  }
  const worst = Math.max(...convergedMs);
  return { figures: [`seed ${String(seed)}, ${String(trials)} SIGKILLs: converged after restart in worst ${worst.toFixed(0)} ms (limit ${String(CONVERGE_LIMIT_MS)} ms, spawn included)`], lost };
}
