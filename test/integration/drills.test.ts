/**
 * Short versions of the reliability drills (test/drills/, `npm run drill:<name>` runs the full ones): each runs
 * with small parameters and must report no lost guarantee.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { drillR1 } from '../drills/r1-daemon-sigkill.js';
import { drillR2 } from '../drills/r2-engine-restart.js';
import { drillR3 } from '../drills/r3-workspace-death.js';
import { drillR5 } from '../drills/r5-concurrent-calls.js';
import { drillR6 } from '../drills/r6-sigterm-systemd.js';
import { CVM_RUNTIME, requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../support/images.js';

describe('reliability drills, short', () => {
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE, BOOKWORM_SYSTEMD_IMAGE], runtimes: [CVM_RUNTIME] });
  });

  it('R3: a killed and an OOM-killed PID 1 are noticed within 1 s, with their reason, restarted and counted', async () => {
    const result = await drillR3(1);
    expect(result.lost).toEqual([]);
    expect(result.figures).toHaveLength(1);
  });

  // The real binary (dist/, built by the global setup).
  it('R6: SIGTERM stops a systemd workspace with SIGRTMIN+3 (exit 0) and the daemon exits 0 within 30 s', { timeout: 120_000 }, async () => {
    const result = await drillR6(1);
    expect(result.lost).toEqual([]);
    expect(result.figures[0]).toMatch(/daemon exit 0/);
  });

  it('R6 during boot: SIGTERM as soon as the workspace runs, before systemd takes SIGRTMIN+3, still ends in exit 0', { timeout: 120_000 }, async () => {
    const result = await drillR6(1, { duringBoot: true });
    expect(result.lost).toEqual([]);
    expect(result.figures[0]).toMatch(/daemon exit 0/);
  });

  it('R1: SIGKILLs of the daemon at seeded random moments leave no duplicate, no orphan, no lost file; converged ≤ 5 s', { timeout: 120_000 }, async () => {
    const result = await drillR1(3, 7);
    expect(result.lost).toEqual([]);
    expect(result.figures[0]).toMatch(/^seed 7, 3 SIGKILLs/);
  });

  // A private dockerd (the shared test engine must not restart), SIGTERMed then SIGKILLed.
  it('R2: through 2 engine restarts /healthz stays 200, /readyz is 503 only in the outage, ready ≤ 5 s, workspaces run again', { timeout: 180_000 }, async () => {
    const result = await drillR2(2);
    expect(result.lost).toEqual([]);
    expect(result.figures[0]).toMatch(/^2 engine restarts/);
  });

  it('R5: 150 seeded random calls from 20 clients: no 5xx, the last accepted operation wins, one container each', { timeout: 180_000 }, async () => {
    const result = await drillR5(150, 5);
    expect(result.lost).toEqual([]);
    expect(result.figures[0]).toMatch(/^seed 5, 150 calls/);
  });
});
