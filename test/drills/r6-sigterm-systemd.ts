/**
 * R6: the real binary (dist/main.js serve, policy stop) gets SIGTERM with N systemd workspaces running. Must hold:
 * each container is sent SIGRTMIN+3 (systemd's halt; seen as the engine's `kill` event) and exits 0 (not 137
 * from the engine's SIGKILL after the stop timeout), and the daemon exits 0 within 30 s.
 *
 * Workspaces run with `cvm: true`, so their runtime is the test engine's `sysbox-runc`: real sysbox, or the test-only
 * shim over runc where sysbox is missing (test/support/cvm-runtime.ts). Either way systemd is a PID namespace's init,
 * which gets a signal from outside only once it blocks or handles it: a SIGRTMIN+3 sent in the first moments of its
 * boot is lost, so the daemon sends it again until the container stops (`duringBoot` drills that window).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess } from '../support/daemon-process.js';
import { docker, removeLabelled } from '../support/engine.js';
import { EngineEvents } from '../support/engine-events.js';
import { BOOKWORM_SYSTEMD_IMAGE } from '../support/images.js';
import { systemState } from '../support/systemd.js';
import type { DrillResult } from './drill.js';

const EXIT_LIMIT_MS = 30_000;
/** SIGRTMIN+3 on Linux; the engine's kill event names the signal by number. */
const SIGRTMIN_3 = '37';

/**
 * `duringBoot`: SIGTERM as soon as the daemon reports the workspaces running, while systemd may still be starting
 * (before it handles SIGRTMIN+3); otherwise once `systemctl is-system-running` has settled.
 */
export async function drillR6(workspaces: number, options: { duringBoot?: boolean } = {}): Promise<DrillResult> {
  const prefix = `drill-r6-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: workspaces }, (_, i) => `${prefix}-${String(i)}`);
  const stateDir = await mkdtemp(join(tmpdir(), `cvm-${prefix}-`));
  const daemon = new DaemonProcess(['--state-dir', stateDir, '--shutdown-policy', 'stop', '--shutdown-grace', '28', '--log-level', 'info'], {});
  const events = new EngineEvents({ type: ['container'], event: ['kill', 'die'] });
  const signals = new Map<string, string[]>();
  events.onEvent((e) => {
    const name = e.Actor.Attributes['name'] ?? '';
    if (e.Action === 'kill') signals.set(name, [...(signals.get(name) ?? []), e.Actor.Attributes['signal'] ?? '?']);
  });
  const lost: string[] = [];
  const figures: string[] = [];
  try {
    await events.ready;
    const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 20_000, 'listening');
    const base = String(listening.msg).replace('Server listening at ', '');
    await daemon.waitForLine((l) => l.msg === 'adopted existing state', 20_000, 'started');
    // /v1 answers 503 until the daemon counts as started, a moment after that line.
    while ((await fetch(`${base}/v1/workspaces`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    for (const id of ids) {
      const res = await fetch(`${base}/v1/workspaces/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image: BOOKWORM_SYSTEMD_IMAGE, pullPolicy: 'never' }),
      });
      if (res.status !== 201) throw new Error(`PUT ${id}: ${String(res.status)} ${await res.text()}`);
    }
    await Promise.all(ids.map((id) => daemon.waitForPhase(id, 'running', 120_000)));
    // Booted to the end (unless asked otherwise), so the stop is a real shutdown, not an interrupted boot.
    if (options.duringBoot !== true) await Promise.all(ids.map((id) => systemState(`cvm-${id}`, 120_000)));

    const before = performance.now();
    daemon.kill('SIGTERM');
    const code = await Promise.race([daemon.exited, new Promise<string>((resolve) => setTimeout(() => { resolve('still running'); }, EXIT_LIMIT_MS + 5_000))]);
    const tookMs = performance.now() - before;
    figures.push(`${String(workspaces)} systemd workspaces: SIGTERM → daemon exit ${String(code)} after ${(tookMs / 1000).toFixed(1)} s (limit 30 s)`);
    if (code !== 0) lost.push(`daemon exit code ${String(code)}, expected 0`);
    if (tookMs > EXIT_LIMIT_MS) lost.push(`daemon took ${(tookMs / 1000).toFixed(1)} s to exit`);
    for (const id of ids) {
      const state = await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', `cvm-${id}`]);
      const sent = signals.get(`cvm-${id}`) ?? [];
      console.log(`R6 cvm-${id}: signals ${sent.join(',') || 'none'}, ${state}`);
      if (!sent.includes(SIGRTMIN_3)) lost.push(`cvm-${id}: no SIGRTMIN+3 (signals: ${sent.join(',') || 'none'})`);
      if (state !== 'exited 0') lost.push(`cvm-${id}: ${state}, expected exited 0`);
    }
    // What the daemon said from the signal on, to tell a slow stop from a failed one.
    if (lost.length > 0) console.log(`R6 daemon log after SIGTERM:\n${daemon.lines.slice(daemon.lines.findIndex((l) => l.msg === 'shutting down')).map((l) => JSON.stringify(l)).join('\n')}`);
  } finally {
    daemon.kill('SIGKILL');
    events.close();
    for (const id of ids) await removeLabelled(`dev.cvm-supervisor.workspace=${id}`);
    await rm(stateDir, { recursive: true, force: true });
  }
  return { figures, lost };
}
