import { describe, expect, it } from 'vitest';
import { canTransition } from '../../../src/lifecycle/phase.js';

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
});
