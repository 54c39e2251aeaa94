import { describe, expect, it } from 'vitest';
import { canTransition, type Phase, PHASES, TransitionError } from '../../../src/lifecycle/phase.js';
import type { WorkspaceRecord } from '../../../src/lifecycle/store.js';
import { Workspace } from '../../../src/lifecycle/workspace.js';

describe('phase transitions', () => {
  it.each([
    ['pending', 'pulling', true],
    ['pulling', 'creating', true],
    ['creating', 'starting', true],
    ['starting', 'running', true],
    ['running', 'stopping', true],
    ['stopping', 'stopped', true],
    ['stopped', 'starting', true],
    ['running', 'failed', true],
    ['failed', 'starting', true],
    ['pulling', 'pulling', true],
    ['creating', 'pulling', true],
    ['deleting', 'pulling', false],
    ['deleting', 'failed', true],
    ['deleting', 'running', false],
    ['stopped', 'running', false],
    ['pulling', 'running', false],
    ['stopping', 'running', false],
  ] as const)('%s → %s: %s', (from, to, ok) => {
    expect(canTransition(from, to)).toBe(ok);
  });

  it('running → pulling is allowed: a rebuild pulls the new image while the old container still runs', () => {
    expect(canTransition('running', 'pulling')).toBe(true);
  });

  it('deleting is final: only a retried delete (deleting) or a failed one (failed) may follow it', () => {
    expect(PHASES.filter((to) => canTransition('deleting', to))).toEqual(['failed', 'deleting']);
  });

  // The whole table, so that any change to the machine shows here as a diff of one row.
  it.each([
    ['pending', ['pending', 'pulling', 'creating', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting']],
    ['pulling', ['pending', 'pulling', 'creating', 'stopping', 'stopped', 'failed', 'deleting']],
    ['creating', ['pending', 'pulling', 'starting', 'stopping', 'stopped', 'failed', 'deleting']],
    ['starting', ['pending', 'pulling', 'running', 'stopping', 'stopped', 'failed', 'deleting']],
    ['running', ['pending', 'pulling', 'stopping', 'stopped', 'failed', 'deleting']],
    ['stopping', ['pending', 'pulling', 'stopping', 'stopped', 'failed', 'deleting']],
    ['stopped', ['pending', 'pulling', 'creating', 'starting', 'stopping', 'stopped', 'failed', 'deleting']],
    ['failed', ['pending', 'pulling', 'creating', 'starting', 'stopping', 'stopped', 'failed', 'deleting']],
    ['deleting', ['failed', 'deleting']],
  ] as const)('from %s the machine allows exactly %j', (from, allowed) => {
    expect(PHASES.filter((to) => canTransition(from, to))).toEqual(allowed);
  });
});

describe('Workspace.setPhase enforces the machine', () => {
  const record: WorkspaceRecord = {
    id: 'ws1',
    spec: { image: 'registry.test/team/dev:1' },
    desired: 'running',
    pending: null,
    generation: 1,
    restarts: 0,
    createdAt: '2026-11-25T08:00:00.000Z',
  };

  function workspaceIn(phase: Phase): Workspace {
    const ws = new Workspace(record);
    ws.phase = phase;
    return ws;
  }

  it('refuses a step out of deleting with a TransitionError naming both phases, and leaves the phase and log as they were', () => {
    const ws = workspaceIn('deleting');
    expect(() => {
      ws.setPhase('running');
    }).toThrow(new TransitionError('deleting', 'running'));
    expect(() => {
      ws.setPhase('pulling');
    }).toThrow(/^illegal phase transition deleting → pulling$/);
    expect(new TransitionError('deleting', 'running').name).toBe('TransitionError');
    expect(ws.phase).toBe('deleting');
    expect(ws.log.snapshot()).toEqual([]);
  });

  it('takes running → pulling for a rebuild and logs the phase change once', () => {
    const ws = workspaceIn('running');
    ws.setPhase('pulling');
    ws.setPhase('pulling');
    expect(ws.phase).toBe('pulling');
    expect(ws.log.snapshot().map((e) => [e.kind, e.message, e.data])).toEqual([['phase', 'pulling', { phase: 'pulling' }]]);
  });

  it('logs a failure with its reason, also when the phase stays failed, and clears the reason on the next step', () => {
    const ws = workspaceIn('running');
    ws.setPhase('failed', { reason: 'ImageNotFound', message: 'no such image' });
    ws.setPhase('failed', { reason: 'ImageNotFound', message: 'still no such image' });
    expect(ws.log.snapshot().map((e) => [e.kind, e.message, e.data])).toEqual([
      ['failure', 'failed: ImageNotFound: no such image', { phase: 'failed', reason: 'ImageNotFound' }],
      ['failure', 'failed: ImageNotFound: still no such image', { phase: 'failed', reason: 'ImageNotFound' }],
    ]);
    expect([ws.reason, ws.message]).toEqual(['ImageNotFound', 'still no such image']);
    ws.setPhase('pulling');
    expect([ws.phase, ws.reason, ws.message]).toEqual(['pulling', null, null]);
  });
});
