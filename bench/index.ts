/**
 * `npm run bench`: the lifecycle benchmarks (bench/README.md), each next to its baseline in the same run, then a summary table.
 * Needs the test engine (bash scripts/engine.sh start; bash scripts/build-test-images.sh) and dist/ (the script
 * builds it). HTTP throughput (P3/P4) is `npm run bench:api`.
 *
 *   BENCH_P1_RUNS (default 30)   BENCH_P2_RUNS (default 30)   BENCH_P5_WORKSPACES (default 500)
 *   BENCH_P6_WORKSPACES (default 50)   BENCH_P6_ROUNDS (default 2)   BENCH_P7_WORKSPACES (default 200)   BENCH_P10_RUNS (default 10)
 *   BENCH_ONLY=P1,P7 runs a subset; P1H is P1 over HTTP (BENCH_P1_RUNS runs per runtime)
 */
import { benchP6 } from './concurrency.js';
import { benchP1, benchP2, benchP7 } from './lifecycle.js';
import { benchP5 } from './memory.js';
import { printSummary, type SummaryRow } from './stats.js';
import { benchP1Http, benchP10 } from './usable.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const only = process.env['BENCH_ONLY']?.split(',');
const benches: [string, () => Promise<SummaryRow[]>][] = [
  ['P1', () => benchP1(env('BENCH_P1_RUNS', 30))],
  ['P1H', () => benchP1Http(env('BENCH_P1_RUNS', 30))],
  ['P2', () => benchP2(env('BENCH_P2_RUNS', 30))],
  ['P5', () => benchP5(env('BENCH_P5_WORKSPACES', 500))],
  ['P6', () => benchP6(env('BENCH_P6_WORKSPACES', 50), env('BENCH_P6_ROUNDS', 2))],
  ['P7', () => benchP7(env('BENCH_P7_WORKSPACES', 200))],
  ['P10', () => benchP10(env('BENCH_P10_RUNS', 10))],
];

const rows: SummaryRow[] = [];
for (const [id, run] of benches) {
  if (only && !only.includes(id)) continue;
  rows.push(...(await run()));
}
printSummary(rows);
