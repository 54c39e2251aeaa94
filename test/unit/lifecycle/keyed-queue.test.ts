import { describe, expect, it } from 'vitest';
import { KeyedQueue } from '../../../src/lifecycle/keyed-queue.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('KeyedQueue', () => {
  it('serialises one key, runs different keys concurrently, and survives a failing task', async () => {
    const q = new KeyedQueue();
    const trace: string[] = [];
    const job = (name: string, fail = false) => async (): Promise<string> => {
      trace.push(`${name}:start`);
      await tick();
      trace.push(`${name}:end`);
      if (fail) throw new Error(name);
      return name;
    };
    const a1 = q.run('a', job('a1', true));
    const a2 = q.run('a', job('a2'));
    const b1 = q.run('b', job('b1'));
    await expect(a1).rejects.toThrow('a1');
    expect(await a2).toBe('a2');
    expect(await b1).toBe('b1');
    expect(trace.indexOf('a2:start')).toBeGreaterThan(trace.indexOf('a1:end'));
    expect(trace.indexOf('b1:start')).toBeLessThan(trace.indexOf('a1:end'));
    await q.idle();
  });
});
