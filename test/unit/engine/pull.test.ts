import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PullError } from '../../../src/engine/engine-errors.js';
import { followPull, parsePullLine } from '../../../src/engine/pull.js';
import type { PullProgressEvent } from '../../../src/engine/types.js';

describe('parsePullLine', () => {
  it('reads layer progress', () => {
    expect(parsePullLine('x', '{"status":"Downloading","id":"abc","progressDetail":{"current":5,"total":10}}')).toEqual({
      layer: 'abc',
      status: 'Downloading',
      current: 5,
      total: 10,
    });
  });

  it('turns an error line into a PullError', () => {
    expect(() => parsePullLine('x', '{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}')).toThrow(PullError);
  });
});

describe('followPull', () => {
  it('fails on an error line in the middle of a stream that ends normally', async () => {
    const lines = ['{"status":"Pulling fs layer","id":"a"}\n', '{"error":"unauthorized: authentication required"}\n', '{"status":"Done"}\n'];
    await expect(followPull('x', Readable.from(lines), {})).rejects.toThrow(/unauthorized/);
  });

  it('reports progress split across chunk boundaries', async () => {
    const events: PullProgressEvent[] = [];
    const chunks = ['{"status":"Downloading","id":"a","progressDe', 'tail":{"current":1,"total":2}}\n{"status":"Pull complete","id":"a"}'];
    await followPull('x', Readable.from(chunks), { onProgress: (e) => events.push(e) });
    expect(events.map((e) => e.status)).toEqual(['Downloading', 'Pull complete']);
    expect(events[0]?.current).toBe(1);
  });
});
