import { describe, expect, it } from 'vitest';
import { placeFrom, placeName } from '../../../src/preflight/place.js';
import { formatReportTable } from '../../../src/preflight/table.js';

describe('where the daemon runs', () => {
  it('is a pod when Kubernetes gave it a service host or a service account, else a machine', () => {
    expect(placeFrom({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, false)).toBe('pod');
    expect(placeFrom({}, true)).toBe('pod');
    expect(placeFrom({ KUBERNETES_SERVICE_HOST: '' }, false)).toBe('machine');
    expect(placeFrom({}, false)).toBe('machine');
  });

  it('names the node only in a cluster', () => {
    expect(placeName('pod')).toBe('this node');
    expect(placeName('machine')).toBe('this machine');
    const failed = { ok: false, checks: [{ id: 'engine', status: 'fail', evidence: 'down', hint: 'start it' }] } as const;
    expect(formatReportTable({ ...failed, checks: [...failed.checks] }, 'machine')).toMatch(/^this machine does not qualify: 1 check\(s\) failed, 0 warning\(s\)$/m);
    expect(formatReportTable({ ok: true, checks: [] }, 'pod')).toMatch(/^this node qualifies \(0 warning\(s\)\)$/m);
  });
});
