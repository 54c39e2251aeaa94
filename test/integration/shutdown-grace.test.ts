/**
 * The daemon's shutdown (policy stop) ends within --shutdown-grace even when a workspace does not halt: the
 * engine's SIGKILL comes before the daemon's deadline, so it exits 0 and leaves nothing running. A systemd
 * workspace's stop timeout (30 s) is longer than the default grace (25 s), so without that a systemd slow to halt
 * outlived the budget (exit 1, container still running).
 *
 * The stand-in for a systemd that does not halt: cvm-test/merged-usr:1, whose /sbin/init resolves to
 * /usr/lib/systemd/systemd (so the daemon treats it as systemd: StopSignal SIGRTMIN+3), but which is busybox init,
 * deaf to that signal. Runs on either CVM runtime (real sysbox or the shim).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../support/daemon-process.js';
import { CVM_RUNTIME, docker, removeLabelled, requireTestEngine } from '../support/engine.js';
import { EngineEvents } from '../support/engine-events.js';
import { MERGED_USR_IMAGE } from '../support/images.js';

const GRACE_SECONDS = 10;
const SIGRTMIN_3 = '37';
const SIGKILL = '9';

describe('SIGTERM with a systemd workspace that does not halt', () => {
  const id = `grace-${randomBytes(3).toString('hex')}`;
  let stateDir: string;

  beforeAll(async () => {
    await requireTestEngine({ images: [MERGED_USR_IMAGE], runtimes: [CVM_RUNTIME] });
    stateDir = await mkdtemp(join(tmpdir(), 'cvm-grace-'));
  });
  afterAll(async () => {
    await removeLabelled(`dev.cvm-supervisor.workspace=${id}`);
    await rm(stateDir, { recursive: true, force: true });
  });

  it(`the engine kills it before the ${String(GRACE_SECONDS)} s grace ends; the daemon exits 0 in time`, { timeout: 120_000 }, async () => {
    const daemon = new DaemonProcess(['--state-dir', stateDir, '--shutdown-policy', 'stop', '--shutdown-grace', String(GRACE_SECONDS)], {
      CVM_BOOT_WORKSPACE_ID: id,
      CODER_INNER_IMAGE: MERGED_USR_IMAGE,
    });
    const events = new EngineEvents({ type: ['container'], event: ['kill'] });
    const signals: string[] = [];
    events.onEvent((e) => {
      if (e.Actor.Attributes['name'] === `cvm-${id}`) signals.push(e.Actor.Attributes['signal'] ?? '?');
    });
    try {
      await events.ready;
      await daemon.waitForPhase(id, 'running');
      expect(await docker(['inspect', '-f', '{{.Config.StopSignal}}', `cvm-${id}`])).toBe('SIGRTMIN+3');
      const before = performance.now();
      daemon.kill('SIGTERM');
      const code = await daemon.exited;
      const tookMs = performance.now() - before;
      console.log(`figure: SIGTERM → daemon exit ${String(code)} after ${(tookMs / 1000).toFixed(1)} s (grace ${String(GRACE_SECONDS)} s); kill signals ${signals.join(',')}`);
      expect(code).toBe(0);
      expect(tookMs).toBeLessThan(GRACE_SECONDS * 1000);
      expect(await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', `cvm-${id}`])).toBe('exited 137');
      expect(signals[0]).toBe(SIGRTMIN_3);
      expect(signals).toContain(SIGKILL);
    } finally {
      daemon.kill('SIGKILL');
      events.close();
    }
  });
});
