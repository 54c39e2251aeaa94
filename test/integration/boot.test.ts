/**
 * Boot readiness on the real engine and the CVM runtime, through the product (a WorkspaceManager wired as the daemon
 * wires it): a systemd CVM is `booting` until `systemctl is-system-running --wait` has settled (and its bootstrap
 * script, when it has one, has exited 0) and then `ready` (checked against systemd itself), and stays `ready` across
 * a daemon restart; init and keepalive workspaces are ready at their start, or when their bootstrap script exits 0,
 * and failed when it exits non-zero. The boot histogram is read from the daemon's own registry. The systemd part
 * needs real sysbox (systemd as PID 1 in a user namespace); on the test-only shim it is skipped, and the describe's
 * name says why. Prints `figure:` lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/lifecycle/event-log.js';
import type { WorkspaceManager } from '../../src/lifecycle/manager.js';
import { Metrics } from '../../src/metrics.js';
import { detectCvmRuntime } from '../support/cvm-runtime.js';
import { CVM_RUNTIME, docker, requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE, BUSYBOX_INIT_IMAGE } from '../support/images.js';
import { ManagerHarness } from '../support/manager.js';

const runtime = await detectCvmRuntime();
const systemdTitle = runtime.real
  ? `boot of a systemd CVM, on ${runtime.description}`
  : `boot of a systemd CVM (skipped: only real sysbox boots systemd as PID 1 in a user namespace; the CVM runtime here is ${runtime.description})`;

let h: ManagerHarness;
let metrics: Metrics;

beforeAll(async () => {
  await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE, BUSYBOX_INIT_IMAGE], runtimes: [CVM_RUNTIME] });
  metrics = new Metrics('0.0.0-test', () => h.manager.phases());
  h = await ManagerHarness.create('boot', { metrics });
});
afterAll(async () => {
  await h.cleanup();
});

const entries = (id: string, manager: WorkspaceManager = h.manager): LogEvent[] => manager.workspace(id)?.log.snapshot() ?? [];
const bootEntries = (id: string, manager?: WorkspaceManager): LogEvent[] => entries(id, manager).filter((e) => e.kind === 'boot');
const msSinceStart = (startedAt: string | null, readyAt: string | null | undefined): number => Date.parse(readyAt ?? '') - Date.parse(startedAt ?? '');

/** `cvm_supervisor_workspace_boot_seconds_count{init="<mode>"}` as the registry has it. */
async function bootsObserved(mode: string): Promise<number> {
  const text = await metrics.registry.getSingleMetricAsString('cvm_supervisor_workspace_boot_seconds');
  const line = text.split('\n').find((l) => l.startsWith(`cvm_supervisor_workspace_boot_seconds_count{init="${mode}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe.skipIf(!runtime.real)(systemdTitle, () => {
  it('is booting after `running`, ready once systemd has settled (systemd agrees), observed, and still ready after a daemon restart', { timeout: 240_000 }, async () => {
    const id = h.id('systemd');
    const name = `cvm-${id}`;
    const put = performance.now();
    await h.manager.put(id, { image: BOOKWORM_SYSTEMD_IMAGE, pullPolicy: 'never' });
    await h.waitFor(id, 'running', 120_000);
    const running = performance.now() - put;
    const status = await h.waitForBoot(id, 120_000);
    const ready = performance.now() - put;
    console.log(`figure: systemd CVM, PUT → running ${(running / 1000).toFixed(2)} s, PUT → boot ${status.boot?.state} ${(ready / 1000).toFixed(2)} s (${runtime.description})`);

    expect(status).toMatchObject({ phase: 'running', init: { mode: 'systemd' }, boot: { state: 'ready' } });
    expect(status.boot?.detail).toMatch(/^systemd: (running|degraded \(\d+ failed units?: .+\))$/);
    // Booting came first: the boot entry follows the running entry, after systemd took its time.
    const runningSeq = entries(id).findLast((e) => e.kind === 'phase' && e.message === 'running')?.seq ?? Infinity;
    expect(bootEntries(id).map((e) => e.seq)).toEqual([expect.any(Number)]);
    expect(bootEntries(id)[0]?.seq).toBeGreaterThan(runningSeq);
    expect(msSinceStart(status.startedAt, status.boot?.readyAt)).toBeGreaterThan(0);
    // Ready means usable: systemd has settled (asked without --wait, it answers at once) and Docker inside runs.
    const now = await docker(['exec', name, 'systemctl', 'is-system-running']).catch((err: unknown) => (err as { stdout?: string }).stdout?.trim() ?? '');
    expect(status.boot?.detail).toContain(`systemd: ${now}`);
    expect(await docker(['exec', name, 'systemctl', 'is-active', 'docker.service'])).toBe('active');
    expect(await bootsObserved('systemd')).toBe(1);

    // A daemon restart adopts the running container: the same boot, not booting again, no new entry or observation.
    await h.manager.shutdown('keep');
    const again = h.newManager();
    h.manager = again;
    await again.init();
    await again.idle();
    expect(again.get(id)).toMatchObject({ phase: 'running', containerId: status.containerId, boot: status.boot });
    expect(bootEntries(id, again)).toEqual([]);
    expect(await bootsObserved('systemd')).toBe(1);
  });

  it('with a bootstrap script: ready once systemd has settled and the script has exited 0', { timeout: 240_000 }, async () => {
    const id = h.id('systemd-bootstrap');
    await h.manager.put(id, { image: BOOKWORM_SYSTEMD_IMAGE, pullPolicy: 'never', bootstrap: { script: 'echo preparing\nsleep 1\necho prepared\n' } });
    await h.waitFor(id, 'running', 120_000);
    const status = await h.waitForBoot(id, 120_000);
    expect(status.boot).toMatchObject({ state: 'ready', detail: expect.stringMatching(/^systemd: (running|degraded \(\d+ failed units?: .+\)); bootstrap exited 0$/) as string });
    const log = entries(id).map((e) => `${e.kind}: ${e.message}`);
    expect(log.indexOf('bootstrap: prepared')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('bootstrap: prepared')).toBeLessThan(log.findIndex((line) => line.startsWith('boot: ready: ')));
    expect(await bootsObserved('systemd')).toBe(2);
  });
});

describe(`boot of init and keepalive workspaces, on ${runtime.description}`, () => {
  it('init without a bootstrap: ready at its start', { timeout: 120_000 }, async () => {
    const id = h.id('init');
    await h.manager.put(id, { image: BUSYBOX_INIT_IMAGE, pullPolicy: 'never' });
    const status = await h.waitFor(id, 'running', 60_000);
    expect(status).toMatchObject({ init: { mode: 'init' }, boot: { state: 'ready', detail: 'init: PID 1 runs' } });
    expect(status.boot?.readyAt).toBe(new Date(status.startedAt ?? '').toISOString());
    expect(bootEntries(id).map((e) => e.message)).toEqual(['ready: init: PID 1 runs']);
  });

  it('keepalive without a bootstrap: ready at its start', { timeout: 120_000 }, async () => {
    const id = h.id('keepalive');
    await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never' });
    const status = await h.waitFor(id, 'running', 60_000);
    expect(status).toMatchObject({ init: { mode: 'keepalive' }, boot: { state: 'ready', detail: 'keepalive: PID 1 runs' } });
    expect(status.boot?.readyAt).toBe(new Date(status.startedAt ?? '').toISOString());
  });

  it('init with a bootstrap: booting while the script runs, ready when it exits 0', { timeout: 120_000 }, async () => {
    const id = h.id('init-bootstrap');
    await h.manager.put(id, { image: BUSYBOX_INIT_IMAGE, pullPolicy: 'never', username: 'coder', bootstrap: { script: 'echo preparing\nsleep 2\necho prepared\n' } });
    await h.waitFor(id, 'running', 60_000);
    expect(h.manager.get(id).boot?.state).toBe('booting');
    const status = await h.waitForBoot(id, 60_000);
    expect(status.boot).toMatchObject({ state: 'ready', detail: 'init: PID 1 runs; bootstrap exited 0' });
    expect(msSinceStart(status.startedAt, status.boot?.readyAt)).toBeGreaterThanOrEqual(2000);
    const log = entries(id).map((e) => `${e.kind}: ${e.message}`);
    expect(log.indexOf('bootstrap: prepared')).toBeLessThan(log.indexOf('boot: ready: init: PID 1 runs; bootstrap exited 0'));
    expect(await bootsObserved('init')).toBeGreaterThanOrEqual(1);
  });

  it('keepalive with a bootstrap that exits 3: failed with the code, its last lines in the boot entry', { timeout: 120_000 }, async () => {
    const id = h.id('keepalive-bootstrap');
    await h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never', bootstrap: { script: 'echo fetching\necho no agent >&2\nexit 3\n' } });
    await h.waitFor(id, 'running', 60_000);
    const status = await h.waitForBoot(id, 60_000);
    expect(status).toMatchObject({ phase: 'running', init: { mode: 'keepalive' }, boot: { state: 'failed', readyAt: null, detail: 'bootstrap exited with code 3' } });
    const [entry] = bootEntries(id);
    expect(entry?.message).toBe('failed: bootstrap exited with code 3');
    // stdout and stderr arrive as two streams, so their lines may interleave either way.
    expect([...((entry?.data?.['lastLines'] as string[] | undefined) ?? [])].sort()).toEqual(['fetching', 'no agent']);
    expect(await bootsObserved('keepalive')).toBe(1);
  });
});
