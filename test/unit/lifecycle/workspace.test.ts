/** One workspace's in-memory state (workspace.ts): what setPhase enforces and logs, and what status() reports. */
import { describe, expect, it } from 'vitest';
import { BootMachine, BootRun } from '../../../src/lifecycle/boot.js';
import type { WorkspaceRecord } from '../../../src/lifecycle/store.js';
import { Workspace } from '../../../src/lifecycle/workspace.js';

function workspace(): Workspace {
  const record: WorkspaceRecord = { id: 'ws1', spec: { image: 'registry.test/dev:1' }, desired: 'running', generation: 1, pending: null, createdAt: '2026-01-01T00:00:00.000Z', restarts: 2 };
  return new Workspace(record);
}

const logged = (ws: Workspace) => ws.log.snapshot().map((e) => `${e.kind}: ${e.message} ${JSON.stringify(e.data ?? null)}`);

describe('Workspace.setPhase', () => {
  it('refuses a transition the state machine forbids, and leaves the phase as it was', () => {
    const ws = workspace();
    expect(() => {
      ws.setPhase('stopping');
    }).not.toThrow();
    ws.setPhase('deleting');
    expect(() => {
      ws.setPhase('running');
    }).toThrow('illegal phase transition deleting → running');
    expect(ws.phase).toBe('deleting');
  });

  it('logs a change of phase once, a failure as a failure entry with its reason, and no repeat of the same phase', () => {
    const ws = workspace();
    ws.setPhase('pulling');
    ws.setPhase('pulling');
    ws.setPhase('failed', { reason: 'ImageNotFound', message: 'no such image' });
    ws.setPhase('failed', { reason: 'ImageNotFound', message: 'again' });
    expect(logged(ws)).toEqual([
      'phase: pulling {"phase":"pulling"}',
      'failure: failed: ImageNotFound: no such image {"phase":"failed","reason":"ImageNotFound"}',
      'failure: failed: ImageNotFound: again {"phase":"failed","reason":"ImageNotFound"}',
    ]);
    expect([ws.reason, ws.message]).toEqual(['ImageNotFound', 'again']);
  });

  it('clears the reason and message of an earlier failure on the next phase', () => {
    const ws = workspace();
    ws.setPhase('failed', { reason: 'ImageNotFound', message: 'no such image' });
    ws.setPhase('pulling');
    expect([ws.reason, ws.message]).toEqual([null, null]);
  });

  it('keeps the boot when the workspace enters running, and cancels and drops it when it leaves running', () => {
    const ws = workspace();
    ws.setPhase('starting');
    const run = new BootRun(new BootMachine(['init']), '2026-01-01T00:00:01.000Z', true);
    ws.boot = run;
    ws.setPhase('running');
    expect(ws.boot).toBe(run);
    expect(run.signal.aborted).toBe(false);
    ws.setPhase('pulling');
    expect(ws.boot).toBeNull();
    expect(run.signal.aborted).toBe(true);
  });
});

describe('Workspace.renewAbort', () => {
  it('aborts the previous operation and hands out a live signal', () => {
    const ws = workspace();
    const first = ws.renewAbort();
    const second = ws.renewAbort();
    expect([first.aborted, second.aborted]).toEqual([true, false]);
  });
});

describe('Workspace.status', () => {
  it('reports the record and the observed state; outdated only against a container built from another spec', () => {
    const ws = workspace();
    expect(ws.status('h1')).toEqual({
      id: 'ws1',
      phase: 'pending',
      reason: null,
      message: null,
      outdated: false,
      containerId: null,
      runtime: null,
      image: { ref: 'registry.test/dev:1', digest: null },
      init: null,
      gpus: [],
      restarts: 2,
      createdAt: '2026-01-01T00:00:00.000Z',
      startedAt: null,
      boot: null,
    });
    ws.containerSpecHash = 'h1';
    expect(ws.status('h1').outdated).toBe(false);
    expect(ws.status('h2').outdated).toBe(true);
  });

  it('shows the boot only while running', () => {
    const ws = workspace();
    for (const phase of ['starting', 'running'] as const) ws.setPhase(phase);
    ws.boot = new BootRun(new BootMachine(['init']), '2026-01-01T00:00:01.000Z', true);
    expect(ws.status('h').boot).toEqual({ state: 'booting', readyAt: null, detail: null });
    ws.boot = new BootRun(new BootMachine(['init']), '2026-01-01T00:00:01.000Z', true);
    ws.phase = 'stopping';
    expect(ws.status('h').boot).toBeNull();
  });
});
