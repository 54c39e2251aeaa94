/**
 * R5: N random start/stop/restart/rebuild/delete/PUT calls on 5 workspaces from 20 concurrent clients, against the
 * real binary (dist/main.js serve) on the test engine. The calls are drawn from DRILL_SEED (default 1) before the
 * storm, so a run is reproducible up to the machine's timing. Must hold:
 *  - no 5xx, and no answer outside API.md's for these routes (200, 201, 202; 404 for a gone workspace; 409 for
 *    one being deleted);
 *  - once the daemon settles, every workspace's state is what its last accepted operation asked for;
 *  - exactly one container per existing workspace (running iff the workspace is), none for a deleted one, and no
 *    container of a workspace the daemon does not know (counted by the product's workspace label).
 *
 * "Accepted" is an answer of 200/201/202 (API.md); 404 and 409 are refusals and change nothing. The daemon applies
 * an accepted call to the workspace's desired state while handling the request, so among calls on one workspace
 * whose request/answer intervals do not overlap, the later one was applied later. Calls that overlap may have
 * been applied in either order. start/restart and PUT 201 set `running`, stop sets `stopped`, DELETE sets `gone`;
 * rebuild and PUT 200 keep the state. The final state must therefore be the effect of one of the setting calls
 * that no other setting call on that workspace follows strictly (exactly one candidate when the last setter did
 * not overlap another). Then one more call per workspace, alone, must be honoured exactly.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonProcess } from '../support/daemon-process.js';
import { removeLabelled } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { divergence, drillDir, type DrillResult, listed, seeded, startDaemon, untilApiServes, WORKSPACE_LABEL } from './drill.js';

const WORKSPACES = 5;
const CLIENTS = 20;
/** Accepted calls queue per workspace and each runs (a burst of restarts is not merged), so the backlog takes a while. */
const SETTLE_LIMIT_MS = 180_000;
type Op = 'start' | 'stop' | 'restart' | 'rebuild' | 'delete' | 'put';
/**
 * How often each call is drawn. A delete makes every other call a 409 until the workspace is gone (and then a 404
 * until a PUT brings it back), so deletes are rare, or refusals would be most of the storm.
 */
const WEIGHTS: readonly (readonly [Op, number])[] = [['start', 8], ['stop', 8], ['restart', 6], ['rebuild', 6], ['delete', 1], ['put', 5]];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
/** Each client waits up to this long (drawn from the seed) before a call, so operations overlap calls, not only calls. */
const MAX_THINK_MS = 100;
const ALLOWED = new Set([200, 201, 202, 404, 409]);

type State = 'running' | 'stopped' | 'gone';

interface Call {
  id: string;
  op: Op;
  purge: boolean;
  sentAt: number;
  answeredAt: number;
  status: number;
}

function draw(at: number): Op {
  let left = at;
  for (const [op, weight] of WEIGHTS) {
    if (left < weight) return op;
    left -= weight;
  }
  return 'start';
}

function send(base: string, id: string, op: Op, purge: boolean): Promise<number> {
  const url = `${base}/v1/workspaces/${id}`;
  const sent =
    op === 'put'
      ? fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: BUSYBOX_IMAGE, pullPolicy: 'never' }) })
      : op === 'delete'
        ? fetch(`${url}?purge=${String(purge)}`, { method: 'DELETE' })
        : fetch(`${url}/${op}`, { method: 'POST' });
  return sent.then(
    async (res) => {
      await res.arrayBuffer();
      return res.status;
    },
    () => 0,
  );
}

/** The state an accepted call sets; null for the calls that keep it (rebuild, PUT of an existing workspace). */
function effect(call: Call): State | null {
  if (call.op === 'start' || call.op === 'restart' || (call.op === 'put' && call.status === 201)) return 'running';
  if (call.op === 'stop') return 'stopped';
  if (call.op === 'delete') return 'gone';
  return null;
}

/** The states the workspace may end in: effects of the setting calls no other setting call strictly follows. */
function possibleFinalStates(calls: readonly Call[], initial: State): Set<State> {
  const setters = calls.filter((c) => c.status >= 200 && c.status < 300 && effect(c) !== null);
  if (setters.length === 0) return new Set([initial]);
  const last = setters.filter((s) => !setters.some((t) => t.sentAt > s.answeredAt));
  return new Set(last.map((s) => effect(s) ?? initial));
}

async function states(base: string, prefix: string, ids: readonly string[]): Promise<Map<string, string>> {
  const found = new Map((await listed(base, prefix))?.map((w) => [w.id, w.phase]) ?? []);
  return new Map(ids.map((id) => [id, found.get(id) ?? 'gone']));
}

/**
 * Waits until nothing diverges for 4 polls in a row (about a second: an operation still queued would show a
 * passing phase by then); returns what still diverges at the limit.
 */
async function settle(base: string, prefix: string): Promise<{ tookMs: number; problems: string[] }> {
  const from = performance.now();
  let calm = 0;
  let problems: string[] = [];
  while (performance.now() - from < SETTLE_LIMIT_MS) {
    problems = await divergence(base, prefix, true);
    calm = problems.length === 0 ? calm + 1 : 0;
    if (calm === 4) return { tookMs: performance.now() - from, problems };
    await sleep(300);
  }
  return { tookMs: performance.now() - from, problems };
}

export async function drillR5(calls: number, seed = Number(process.env['DRILL_SEED'] ?? 1)): Promise<DrillResult> {
  const random = seeded(seed);
  const prefix = `drill-r5-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: WORKSPACES }, (_, i) => `${prefix}-${String(i)}`);
  const stateDir = await drillDir(prefix);
  const plan = Array.from({ length: calls }, () => ({
    id: ids[Math.floor(random() * ids.length)] ?? '',
    op: draw(random() * TOTAL_WEIGHT),
    purge: random() < 0.5,
    thinkMs: Math.floor(random() * MAX_THINK_MS),
  }));
  const lost: string[] = [];
  const figures: string[] = [];
  let daemon: DaemonProcess | null = null;
  const flags = ['--state-dir', stateDir, '--shutdown-policy', 'keep'];
  try {
    const started = await startDaemon(flags);
    daemon = started.daemon;
    let base = started.base;
    await untilApiServes(base);
    for (const id of ids) if ((await send(base, id, 'put', false)) !== 201) throw new Error(`PUT ${id} was not created`);
    const first = await settle(base, prefix);
    if (first.problems.length > 0) throw new Error(`the workspaces never ran: ${first.problems.join('; ')}`);

    const done: Call[] = [];
    let next = 0;
    const stormStart = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < plan.length; i = next++) {
          const { id, op, purge, thinkMs } = plan[i] ?? { id: '', op: 'start', purge: false, thinkMs: 0 };
          await sleep(thinkMs);
          const sentAt = performance.now();
          const status = await send(base, id, op, purge);
          done.push({ id, op, purge, sentAt, answeredAt: performance.now(), status });
        }
      }),
    );
    const stormMs = performance.now() - stormStart;
    const byStatus = new Map<number, number>();
    for (const c of done) byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + 1);
    for (const [op] of WEIGHTS) {
      const answers = new Map<number, number>();
      for (const c of done.filter((d) => d.op === op)) answers.set(c.status, (answers.get(c.status) ?? 0) + 1);
      console.log(`R5 ${op}: ${[...answers.entries()].sort(([a], [b]) => a - b).map(([st, n]) => `${String(n)} × ${String(st)}`).join(', ')}`);
    }
    const unexpected = done.filter((c) => !ALLOWED.has(c.status));
    for (const c of unexpected.slice(0, 10)) lost.push(`${c.op} ${c.id} answered ${String(c.status)}`);
    if (unexpected.length > 10) lost.push(`... and ${String(unexpected.length - 10)} more answers outside ${[...ALLOWED].join('/')}`);

    const settled = await settle(base, prefix);
    for (const problem of settled.problems) lost.push(`after the storm: ${problem}`);
    const final = await states(base, prefix, ids);
    let exact = 0;
    for (const id of ids) {
      const possible = possibleFinalStates(done.filter((c) => c.id === id), 'running');
      if (possible.size === 1) exact += 1;
      const state = final.get(id) ?? 'gone';
      const ok = [...possible].some((p) => p === state);
      console.log(`R5 ${id}: ${String(done.filter((c) => c.id === id && c.status < 300).length)} accepted calls; may end ${[...possible].join('|')}; is ${state}${ok ? '' : '  <-- WRONG'}`);
      if (!ok) lost.push(`${id} is ${state} after the storm; its last accepted operations allow only ${[...possible].join('|')}`);
    }

    // A restarted daemon converges to the desired state it stored when it accepted each call; a workspace whose
    // state changes across the restart ran otherwise than the daemon had recorded (the last accepted call lost).
    daemon.kill('SIGTERM');
    await daemon.exited;
    const restarted = await startDaemon(flags);
    daemon = restarted.daemon;
    base = restarted.base;
    await untilApiServes(base);
    const resettled = await settle(base, prefix);
    for (const problem of resettled.problems) lost.push(`after a daemon restart: ${problem}`);
    const recorded = await states(base, prefix, ids);
    const moved = ids.filter((id) => recorded.get(id) !== final.get(id));
    for (const id of moved) lost.push(`${id} was ${String(final.get(id))} after the storm, ${String(recorded.get(id))} after a daemon restart`);

    // One call per workspace, alone: honoured exactly, whatever the storm left.
    const lastCalls = ids.map((id) => {
      const op: Op = final.get(id) === 'gone' ? 'put' : random() < 0.5 ? 'stop' : 'start';
      return { id, op };
    });
    for (const { id, op } of lastCalls) {
      const status = await send(base, id, op, false);
      if (status >= 300) lost.push(`the lone ${op} ${id} answered ${String(status)}`);
    }
    const afterLone = await settle(base, prefix);
    for (const problem of afterLone.problems) lost.push(`after the lone calls: ${problem}`);
    const lone = await states(base, prefix, ids);
    for (const { id, op } of lastCalls) {
      const want = op === 'stop' ? 'stopped' : 'running';
      if (lone.get(id) !== want) lost.push(`${id} is ${String(lone.get(id))} after a lone ${op}, expected ${want}`);
    }

    figures.push(
      `seed ${String(seed)}, ${String(done.length)} calls from ${String(CLIENTS)} clients on ${String(WORKSPACES)} workspaces in ${(stormMs / 1000).toFixed(1)} s: ` +
        [...byStatus.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${String(n)} × ${String(s)}`).join(', ') +
        `; 5xx: ${String(done.filter((c) => c.status >= 500).length)}`,
      `settled ${(settled.tookMs / 1000).toFixed(1)} s after the storm; final state matches the last accepted operation: ` +
        `${String(ids.length - lost.filter((l) => l.includes('after the storm; its last')).length)}/${String(ids.length)} ` +
        `(${String(exact)} with a single possible state); unchanged across a daemon restart: ${String(ids.length - moved.length)}/${String(ids.length)}; ` +
        `then ${String(ids.length)} lone calls honoured; one container per workspace, no orphans: ` +
        (settled.problems.length + resettled.problems.length + afterLone.problems.length === 0 ? 'yes' : 'NO'),
    );
  } finally {
    daemon?.kill('SIGKILL');
    await daemon?.exited;
    for (const id of ids) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    await rm(stateDir, { recursive: true, force: true });
  }
  return { figures, lost };
}
