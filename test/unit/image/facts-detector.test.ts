import { describe, expect, it } from 'vitest';
import { ImageFactsCache } from '../../../src/image/facts-detector.js';
import type { ImageFacts } from '../../../src/image/facts.js';

describe('ImageFactsCache', () => {
  const factsOf = (imageId: string): ImageFacts => ({
    imageId,
    init: { mode: 'keepalive', path: '/sbin/init', target: null, reason: 'x' },
    osRelease: null,
    users: [],
    sleepPath: null,
  });

  it('shares one detection between concurrent and later requests for the same image', async () => {
    const calls: string[] = [];
    const cache = new ImageFactsCache(({ id: imageId }) => {
      calls.push(imageId);
      return new Promise((resolve) => setTimeout(() => { resolve(factsOf(imageId)); }, 5));
    });
    const [a, b, c] = await Promise.all([cache.get({ id: 'sha256:a' }), cache.get({ id: 'sha256:a' }), cache.get({ id: 'sha256:b' })]);
    expect(a).toBe(b);
    expect(c.imageId).toBe('sha256:b');
    expect(await cache.get({ id: 'sha256:a' })).toBe(a);
    expect(calls).toEqual(['sha256:a', 'sha256:b']);
  });

  it('does not cache a failure', async () => {
    let attempts = 0;
    const cache = new ImageFactsCache(({ id: imageId }) => {
      attempts += 1;
      return attempts === 1 ? Promise.reject(new Error('engine down')) : Promise.resolve(factsOf(imageId));
    });
    await expect(cache.get({ id: 'sha256:a' })).rejects.toThrow('engine down');
    expect((await cache.get({ id: 'sha256:a' })).imageId).toBe('sha256:a');
    expect(attempts).toBe(2);
  });
});
