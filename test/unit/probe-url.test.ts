import { describe, expect, it } from 'vitest';
import { localProbeUrl } from '../../src/probe-url.js';

describe('localProbeUrl (the image HEALTHCHECK target)', () => {
  it('reaches a wildcard listen address through loopback', () => {
    expect(localProbeUrl({ host: '0.0.0.0', port: 7070 }, '/healthz')).toBe('http://127.0.0.1:7070/healthz');
    expect(localProbeUrl({ host: '::', port: 8080 }, '/healthz')).toBe('http://[::1]:8080/healthz');
  });

  it('keeps a specific address, with IPv6 in brackets', () => {
    expect(localProbeUrl({ host: '10.1.2.3', port: 7070 }, '/healthz')).toBe('http://10.1.2.3:7070/healthz');
    expect(localProbeUrl({ host: 'fd00::2', port: 7070 }, '/readyz')).toBe('http://[fd00::2]:7070/readyz');
    expect(localProbeUrl({ host: 'localhost', port: 1 }, '/healthz')).toBe('http://localhost:1/healthz');
  });
});
