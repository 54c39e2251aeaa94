/**
 * `npm run drill:<name>`: runs one drill against the test engine, prints its figures and exits 1 if a guarantee
 * was lost.   node --import tsx test/drills/run.ts r3 [size]
 */
import type { DrillResult } from './drill.js';
import { drillR1 } from './r1-daemon-sigkill.js';
import { drillR2 } from './r2-engine-restart.js';
import { drillR3 } from './r3-workspace-death.js';
import { drillR5 } from './r5-concurrent-calls.js';
import { drillR6 } from './r6-sigterm-systemd.js';

/** Each drill with its default size (trials, restarts, workspaces or calls). */
const drills: Record<string, { run: (size: number) => Promise<DrillResult>; size: number }> = {
  r1: { run: drillR1, size: 5 },
  r2: { run: drillR2, size: 10 },
  r3: { run: drillR3, size: 5 },
  r5: { run: drillR5, size: 1000 },
  r6: { run: drillR6, size: 5 },
};

const [name = '', size] = process.argv.slice(2);
const drill = drills[name];
if (!drill) {
  console.error(`usage: run.ts <${Object.keys(drills).join('|')}> [size]`);
  process.exit(2);
}
const result = await drill.run(Number(size ?? drill.size));
for (const figure of result.figures) console.log(`${name}: ${figure}`);
for (const broken of result.lost) console.log(`${name}: LOST: ${broken}`);
console.log(`${name}: ${result.lost.length === 0 ? 'all guarantees held' : `${String(result.lost.length)} guarantees lost`}`);
process.exit(result.lost.length === 0 ? 0 : 1);
