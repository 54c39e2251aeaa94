/** NVIDIA_DRIVER_CAPABILITIES as parseCapabilities reads it (capabilities.ts). */
import { describe, expect, it } from 'vitest';
import { parseCapabilities } from '../../../src/gpu/capabilities.js';

describe('parseCapabilities', () => {
  it('trims blanks around each word and returns the capabilities in their fixed order', () => {
    expect(parseCapabilities(' video , utility ,', 'gpus.capabilities')).toEqual(['utility', 'video']);
  });

  it('names every unknown word, comma-separated', () => {
    expect(() => parseCapabilities('compute,warp,drive', 'gpus.capabilities')).toThrow('gpus.capabilities: unknown capability warp, drive (allowed: utility, compute, video, graphics, display, all)');
  });
});
