/** Small statistics and table helpers shared by the benchmarks. */

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
}

export function printSummary(rows: readonly SummaryRow[]): void {
  console.log('\nsummary');
  console.log(`${'id'.padEnd(4)} ${'what'.padEnd(44)} ${'figure'.padEnd(52)} ${'target'.padEnd(30)} met`);
  for (const r of rows) console.log(`${r.id.padEnd(4)} ${r.what.padEnd(44)} ${r.figure.padEnd(52)} ${r.target.padEnd(30)} ${r.met ? 'yes' : 'NO'}`);
}

export const ms = (value: number): string => `${value.toFixed(1)} ms`;
