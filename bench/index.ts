/**
 * `npm run bench`: the benchmarks of bench/README.md, each next to its baseline in the same run, then one summary
 * table with each target, whether it was met, the runtime and the load average the figure was taken under.
 * Needs the test engine (bash scripts/engine.sh start; bash scripts/build-test-images.sh) and dist/ (the script
 * builds it).
 *
 *   BENCH_ONLY=P3,P4 runs a subset (`npm run bench:api`: the HTTP ones); P1H is P1 over HTTP (runc and sysbox-runc)
 *   BENCH_P1_RUNS (default 30, per runtime for P1H)   BENCH_P2_RUNS (default 30)   BENCH_P5_WORKSPACES (default 500)
 *   BENCH_P6_WORKSPACES (default 50)   BENCH_P6_ROUNDS (default 2)   BENCH_P7_WORKSPACES (default 200)
 *   BENCH_P10_RUNS (default 10)   BENCH_DURATION (P3/P4: seconds a run, default 10)   BENCH_ROUNDS (P3: rounds, default 5)
 */
import { loadavg } from 'node:os';
import { engineRequest } from '../test/support/engine.js';
import { detectCvmRuntime } from '../test/support/cvm-runtime.js';
import { benchP3, benchP4 } from './api.js';
import { benchP6 } from './concurrency.js';
import { benchP1, benchP2, benchP7 } from './lifecycle.js';
import { benchP5 } from './memory.js';
import { machine, printSummary, type SummaryRow } from './stats.js';
import { benchP1Http, benchP10 } from './usable.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const only = process.env['BENCH_ONLY']?.split(',');
const benches: [string, () => Promise<SummaryRow[]>][] = [
  ['P1', () => benchP1(env('BENCH_P1_RUNS', 30))],
  ['P1H', () => benchP1Http(env('BENCH_P1_RUNS', 30))],
  ['P2', () => benchP2(env('BENCH_P2_RUNS', 30))],
  ['P3', () => benchP3(env('BENCH_ROUNDS', 5))],
  ['P4', () => benchP4(500)],
  ['P5', () => benchP5(env('BENCH_P5_WORKSPACES', 500))],
  ['P6', () => benchP6(env('BENCH_P6_WORKSPACES', 50), env('BENCH_P6_ROUNDS', 2))],
  ['P7', () => benchP7(env('BENCH_P7_WORKSPACES', 200))],
  ['P10', () => benchP10(env('BENCH_P10_RUNS', 10))],
];
const unknown = only?.filter((id) => !benches.some(([known]) => known === id)) ?? [];
if (unknown.length > 0) throw new Error(`BENCH_ONLY: no benchmark ${unknown.join(', ')} (known: ${benches.map(([id]) => id).join(', ')})`);

const engine = await engineRequest('GET', '/version').then((r) => (JSON.parse(r.body) as { Version?: string }).Version ?? 'unknown', () => 'unreachable');
console.log(`machine: ${machine()}`);
console.log(`engine: Docker ${engine}; its sysbox-runc: ${(await detectCvmRuntime()).description}`);
const rows: SummaryRow[] = [];
for (const [id, run] of benches) {
  if (only && !only.includes(id)) continue;
  console.log(`\n${id} (${machine()})`);
  const measured = await run();
  const [load = Number.NaN] = loadavg();
  rows.push(...measured.map((row) => ({ ...row, load })));
}
console.log(`\nmachine: ${machine()}`);
printSummary(rows);
