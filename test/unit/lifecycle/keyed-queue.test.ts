import { describe, expect, it } from 'vitest';
import { KeyedQueue } from '../../../src/lifecycle/keyed-queue.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise the test settles: the jobs below end when the test says so, not after some time. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('KeyedQueue', () => {
  it('serialises one key, runs different keys concurrently, and survives a failing task', async () => {
    const q = new KeyedQueue();
    const trace: string[] = [];
    const gates = { a1: gate(), a2: gate(), b1: gate() };
    const job = (name: keyof typeof gates, fail = false) => async (): Promise<string> => {
      trace.push(`${name}:start`);
      await gates[name].opened;
      trace.push(`${name}:end`);
      if (fail) throw new Error(name);
      return name;
    };
    const a1 = q.run('a', job('a1', true));
    const a2 = q.run('a', job('a2'));
    const b1 = q.run('b', job('b1'));
    await nextTurn();
    // b1 runs beside a1; a2 waits for a1.
    expect(trace).toEqual(['a1:start', 'b1:start']);
    gates.a1.open();
    await expect(a1).rejects.toThrow('a1');
    await nextTurn();
    expect(trace).toEqual(['a1:start', 'b1:start', 'a1:end', 'a2:start']);
    gates.a2.open();
    gates.b1.open();
    expect(await a2).toBe('a2');
    expect(await b1).toBe('b1');
    await q.idle();
  });
});
