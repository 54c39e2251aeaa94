import { describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/engine/engine-errors.js';
import { countingEngineErrors } from '../../../src/engine/error-counting.js';
import type { Engine } from '../../../src/engine/types.js';

describe('countingEngineErrors', () => {
  it('reports engine failures by method name and passes results and other errors through', async () => {
    // Only the three methods this test calls; the wrapper forwards by name.
    const engine = {
      ping: () => Promise.reject(new EngineError('ping', null, 'down')),
      inspectImage: () => Promise.resolve(undefined),
      createContainer: () => Promise.reject(new TypeError('a bug, not the engine')),
    } as unknown as Engine;
    const seen: string[] = [];
    const counted = countingEngineErrors(engine, (op) => seen.push(op));
    await expect(counted.ping()).rejects.toThrow('down');
    await expect(counted.inspectImage('x')).resolves.toBeUndefined();
    await expect(counted.createContainer({ name: 'x', Image: 'x', Labels: {}, HostConfig: {} })).rejects.toThrow(TypeError);
    expect(seen).toEqual(['ping']);
  });
});
