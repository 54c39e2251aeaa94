/**
 * Deaths and daemon restarts, in-process against the test engine: the manager notices a workspace's PID 1 dying
 * (engine events), reports why, restarts per policy with backoff, and a new manager on the same state dir brings
 * back what the shutdown policy stopped, without passing through `failed`.
 *
 * Only keep-alive busybox workspaces here; with `cvm: true` their runtime is the test engine's `sysbox-runc`: real
 * sysbox, or the test-only shim over runc on machines without it (test/README.md).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { clearTimeout as realClearTimeout, setTimeout as realSetTimeout } from 'node:timers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CRASH_BACKOFF } from '../../src/lifecycle/crash-restarts.js';
import type { EventLog, LogEvent } from '../../src/lifecycle/event-log.js';
import type { WorkspaceManager } from '../../src/lifecycle/manager.js';
import type { WorkspaceRecord } from '../../src/lifecycle/store.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { CVM_RUNTIME, docker, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE, BUSYBOX_INIT_IMAGE } from '../support/images.js';
import { inspectRaw, ManagerHarness } from '../support/manager.js';

interface RawState {
  State: { Running: boolean; ExitCode: number; OOMKilled: boolean; StartedAt: string };
}

const stateOf = async (name: string): Promise<RawState['State']> => ((await inspectRaw(name)) as unknown as RawState).State;

const phaseOf = (event: LogEvent): unknown => event.data?.['phase'];

/**
 * The first log event after `afterSeq` that matches, as the log appends it (no polling). The deadline is on
 * node:timers, which a test's fake clock (vi.useFakeTimers fakes the globals) leaves running.
 */
function nextEvent(log: EventLog, afterSeq: number, matches: (e: LogEvent) => boolean, timeoutMs: number): Promise<LogEvent> {
  return new Promise((resolve, reject) => {
    const find = (): LogEvent | undefined => log.snapshot().find((e) => e.seq > afterSeq && matches(e));
    const settle = (): void => {
      const found = find();
      if (!found) return;
      unsubscribe();
      realClearTimeout(deadline);
      resolve(found);
    };
    const unsubscribe = log.subscribe(settle);
    const deadline = realSetTimeout(() => {
      unsubscribe();
      const tail = log.snapshot().slice(-10).map((e) => `  ${e.kind}: ${e.message}`);
      reject(new Error(`no matching log event within ${timeoutMs} ms; last events:\n${tail.join('\n')}`));
    }, timeoutMs);
    settle();
  });
}

/**
 * Runs `act` (which must see the workspace die and settle) on a fake clock, then moves that clock past the longest
 * crash backoff (60 s + 20 %) and lets what it set off finish, on the real clock again: a restart that was
 * scheduled would have run by then. Only the timer functions are faked, so log times stay real.
 */
async function thenPastEveryBackoff(manager: WorkspaceManager, act: () => Promise<void>): Promise<void> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  try {
    await act();
    await manager.idle();
    vi.advanceTimersByTime(CRASH_BACKOFF.maxMs * 1.2 + 1);
  } finally {
    vi.useRealTimers();
  }
  await manager.idle();
}

describe('workspace deaths and daemon restarts', () => {
  let h: ManagerHarness;
  const busybox = (extra: Partial<WorkspaceSpec> = {}): WorkspaceSpec => ({ image: BUSYBOX_IMAGE, pullPolicy: 'never', ...extra });

  /** Puts a workspace, waits until it runs, and returns what the tests need of it. */
  async function running(name: string, spec: WorkspaceSpec): Promise<{ id: string; container: string; containerId: string | null; log: EventLog }> {
    const id = h.id(name);
    await h.manager.put(id, spec);
    const { containerId } = await h.waitFor(id, 'running');
    const log = h.manager.workspace(id)?.log;
    if (!log) throw new Error(`no log for ${id}`);
    return { id, container: `cvm-${id}`, containerId, log };
  }

  const lastSeq = (log: EventLog): number => log.snapshot().at(-1)?.seq ?? 0;

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE, BUSYBOX_INIT_IMAGE], runtimes: [CVM_RUNTIME] });
    h = await ManagerHarness.create('rst');
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it('a killed workspace is reported failed (ContainerExited) and restarted in its container after ~1 s', async () => {
    const ws = await running('kill', busybox());
    const before = lastSeq(ws.log);
    await docker(['kill', ws.container]);

    const failed = await nextEvent(ws.log, before, (e) => phaseOf(e) === 'failed', 10_000);
    expect(failed.data?.['reason']).toBe('ContainerExited');
    const back = await nextEvent(ws.log, failed.seq, (e) => phaseOf(e) === 'running', 10_000);
    // The first backoff is 1 s ± 20 %.
    expect(Date.parse(back.time) - Date.parse(failed.time)).toBeGreaterThanOrEqual(750);
    expect(h.manager.get(ws.id)).toMatchObject({ phase: 'running', restarts: 1, containerId: ws.containerId });
    expect((await stateOf(ws.container)).Running).toBe(true);
  });

  it("restartPolicy 'no' leaves a killed workspace failed", async () => {
    const ws = await running('norestart', busybox({ restartPolicy: 'no' }));
    const before = lastSeq(ws.log);
    await thenPastEveryBackoff(h.manager, async () => {
      await docker(['kill', ws.container]);
      await nextEvent(ws.log, before, (e) => phaseOf(e) === 'failed', 10_000);
    });
    expect(h.manager.get(ws.id)).toMatchObject({ phase: 'failed', reason: 'ContainerExited', restarts: 0, containerId: ws.containerId });
    expect((await stateOf(ws.container)).Running).toBe(false);
    expect(ws.log.snapshot().filter((e) => e.seq > before && /restarting/.test(e.message))).toEqual([]);
  });

  it('a clean exit of PID 1 (poweroff inside) is a stop under on-failure, and stays stopped for a new manager', async () => {
    // busybox init powers off and exits 0 on SIGUSR2, as `poweroff` inside the workspace would.
    const ws = await running('poweroff', { image: BUSYBOX_INIT_IMAGE, pullPolicy: 'never' });
    const before = lastSeq(ws.log);
    await thenPastEveryBackoff(h.manager, async () => {
      await docker(['kill', '--signal', 'SIGUSR2', ws.container]);
      await nextEvent(ws.log, before, (e) => phaseOf(e) === 'stopped', 10_000);
    });
    expect((await stateOf(ws.container)).ExitCode).toBe(0);
    expect(h.manager.get(ws.id)).toMatchObject({ phase: 'stopped', reason: null, restarts: 0 });
    expect(ws.log.snapshot().filter((e) => e.seq > before && (phaseOf(e) === 'failed' || /restarting/.test(e.message)))).toEqual([]);

    await h.manager.shutdown('keep');
    const next = h.newManager();
    await next.init();
    await next.idle();
    expect(next.get(ws.id)).toMatchObject({ phase: 'stopped' });
    expect((await stateOf(ws.container)).Running).toBe(false);
    h.manager = next;
  });

  it('PID 1 killed for memory is reported as OOMKilled and restarted', async () => {
    const ws = await running('oom', busybox({ resources: { memoryBytes: 16 * 1024 * 1024 } }));
    const before = lastSeq(ws.log);
    // The kernel kills the process with the highest OOM score, normally the one that allocates. Here PID 1
    // (docker-init) gets oom_score_adj 1000 and the memory is filled in /dev/shm: tmpfs pages are charged to the
    // container's memory cgroup but to no process's RSS, so PID 1 is the one the kernel picks.
    await docker(['exec', ws.container, 'sh', '-c', 'echo 1000 > /proc/1/oom_score_adj && dd if=/dev/zero of=/dev/shm/fill bs=1M count=64']).catch(
      () => undefined, // the exec dies with the container
    );

    const failed = await nextEvent(ws.log, before, (e) => phaseOf(e) === 'failed', 10_000);
    expect(failed.message).toMatch(/^failed: OOMKilled:/);
    await nextEvent(ws.log, failed.seq, (e) => phaseOf(e) === 'running', 10_000);
    expect(h.manager.get(ws.id)).toMatchObject({ phase: 'running', restarts: 1, containerId: ws.containerId });
  });

  it("shutdown 'stop' stops the container; a new manager brings it back to running without passing through failed", async () => {
    const ws = await running('shutdown', busybox());
    await h.manager.shutdown('stop');
    expect((await stateOf(ws.container)).Running).toBe(false);
    const record = JSON.parse(await readFile(path.join(h.stateDir, 'workspaces', `${ws.id}.json`), 'utf8')) as WorkspaceRecord;
    expect(record.desired).toBe('running');

    const next = h.newManager();
    await next.init();
    await next.idle();
    // The log is new with the manager's Workspace, so it holds every event since init().
    const events = next.workspace(ws.id)?.log.snapshot() ?? [];
    expect(events.map(phaseOf)).toContain('running');
    expect(events.filter((e) => e.kind === 'failure' || phaseOf(e) === 'failed')).toEqual([]);
    expect(next.get(ws.id)).toMatchObject({ phase: 'running', containerId: ws.containerId, restarts: 0 });
    expect((await stateOf(ws.container)).Running).toBe(true);
    h.manager = next;
  });

  it('a new manager adopts a workspace that kept running, without restarting or duplicating it', async () => {
    const ws = await running('adopt', busybox());
    const startedAt = (await stateOf(ws.container)).StartedAt;
    // 'keep' leaves the container as a crashed daemon would.
    await h.manager.shutdown('keep');

    const next = h.newManager();
    await next.init();
    await next.idle();
    expect(next.get(ws.id)).toMatchObject({ phase: 'running', containerId: ws.containerId });
    expect(next.workspace(ws.id)?.log.snapshot().map(phaseOf)).toEqual(['running']);
    expect((await stateOf(ws.container)).StartedAt).toBe(startedAt);
    h.manager = next;
  });
});
