/**
 * Short versions of the reliability drills (test/drills/, `npm run drill:<name>` runs the full ones): each runs
 * with small parameters and must report no lost guarantee.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { drillR3 } from '../drills/r3-workspace-death.js';
import { requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';

describe('reliability drills, short', () => {
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
  });

  it('R3: a killed and an OOM-killed PID 1 are noticed within 1 s, with their reason, restarted and counted', async () => {
    const result = await drillR3(1);
    expect(result.lost).toEqual([]);
    expect(result.figures).toHaveLength(1);
  });
});
