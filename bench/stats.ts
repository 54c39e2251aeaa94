/** Small statistics and table helpers shared by the benchmarks. */
import { cpus, loadavg } from 'node:os';

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export interface SummaryRow {
  id: string;
  what: string;
  figure: string;
  target: string;
  met: boolean;
  /** What ran the containers measured: runc, sysbox-runc, or none. */
  runtime: string;
  /** The 1-minute load average when the figure was taken (index.ts fills it in). */
  load?: number;
}

/** The machine the figures come from: cores, load average (1, 5, 15 min), Node version. */
export function machine(): string {
  const cores = cpus();
  return `${String(cores.length)} cores (${cores[0]?.model.trim() ?? 'unknown'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}`;
}

export function printSummary(rows: readonly SummaryRow[]): void {
  console.log('\nsummary');
  console.log(`${'id'.padEnd(4)} ${'what'.padEnd(50)} ${'figure'.padEnd(64)} ${'target'.padEnd(30)} ${'met'.padEnd(3)} ${'runtime'.padEnd(20)} load`);
  for (const r of rows) {
    console.log(`${r.id.padEnd(4)} ${r.what.padEnd(50)} ${r.figure.padEnd(64)} ${r.target.padEnd(30)} ${(r.met ? 'yes' : 'NO').padEnd(3)} ${r.runtime.padEnd(20)} ${r.load?.toFixed(1) ?? ''}`);
  }
}

export const ms = (value: number): string => `${value.toFixed(1)} ms`;
