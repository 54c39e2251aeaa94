import { describe, expect, it } from 'vitest';
import { bootstrapCommand, BOOTSTRAP_PATH, LineSplitter } from '../../../src/lifecycle/bootstrap.js';

describe('bootstrapCommand', () => {
  it('runs a shebang script directly and anything else with /bin/sh', () => {
    expect(bootstrapCommand('#!/bin/bash\necho hi')).toEqual([BOOTSTRAP_PATH]);
    expect(bootstrapCommand('echo hi')).toEqual(['/bin/sh', BOOTSTRAP_PATH]);
  });
});

describe('LineSplitter', () => {
  it('joins lines across chunks and caps endless lines', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push(Buffer.from('hel'));
    s.push(Buffer.from('lo\nwor'));
    s.push(Buffer.from('ld\n'));
    s.push(Buffer.from('x'.repeat(5000)));
    s.push(Buffer.from('tail'));
    s.end();
    expect(lines.slice(0, 2)).toEqual(['hello', 'world']);
    expect(lines[2]).toHaveLength(4096);
    expect(lines[3]).toBe('tail');
  });
});
