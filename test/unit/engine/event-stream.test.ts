import { describe, expect, it } from 'vitest';
import { parseEventLine, sinceParam } from '../../../src/engine/event-stream.js';

describe('engine events', () => {
  it('keeps timeNano exact, beyond what a double can hold', () => {
    const line =
      '{"status":"die","id":"abc","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"137"}},"time":1795593121,"timeNano":1795593121664123457}';
    const event = parseEventLine(line);
    expect(event).toEqual({ type: 'container', action: 'die', id: 'abc', attributes: { exitCode: '137' }, timeNano: 1795593121664123457n });
  });

  it('falls back to whole seconds without timeNano', () => {
    expect(parseEventLine('{"Type":"container","Action":"start","time":12}').timeNano).toBe(12_000_000_000n);
  });

  it('formats since as seconds.nanoseconds', () => {
    expect(sinceParam(1795593121000000042n)).toBe('1795593121.000000042');
  });
});
