import { describe, expect, it } from 'vitest';
import { EventLog, type LogEvent } from '../../../src/lifecycle/event-log.js';

describe('EventLog', () => {
  it('keeps the newest entries up to its capacity and notifies subscribers until they leave', () => {
    const log = new EventLog(3);
    const seen: LogEvent[] = [];
    const unsubscribe = log.subscribe((e) => seen.push(e));
    for (let i = 1; i <= 5; i++) log.append('info', `line ${i}`);
    expect(log.snapshot().map((e) => e.message)).toEqual(['line 3', 'line 4', 'line 5']);
    expect(log.snapshot().map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(seen).toHaveLength(5);
    unsubscribe();
    log.append('info', 'after');
    expect(seen).toHaveLength(5);
    expect(log.listenerCount).toBe(0);
  });
});
