import { describe, expect, it } from 'vitest';
import { kernelCheck, preflightReport, runtimeCheck } from '../../../src/preflight/report.js';

describe('preflight checks', () => {
  it.each([
    ['6.18.44-fc-v669', 'pass'],
    ['5.4.0-1024-gcp', 'pass'],
    ['5.3.18', 'fail'],
    ['4.19.0', 'fail'],
    ['garbage', 'fail'],
  ] as const)('kernel %s → %s', (release, status) => {
    expect(kernelCheck(release).status).toBe(status);
  });

  it('fails a missing runtime only while CVMs are enabled', () => {
    expect(runtimeCheck(['runc'], 'sysbox-runc', true).status).toBe('fail');
    expect(runtimeCheck(['runc'], 'sysbox-runc', false).status).toBe('warn');
    expect(runtimeCheck(['runc', 'sysbox-runc'], 'sysbox-runc', true).status).toBe('pass');
    expect(runtimeCheck(null, 'sysbox-runc', true).status).toBe('fail');
  });

  it('is ok only when nothing fails', () => {
    const base = { kernelRelease: '6.1.0', cvmRuntime: 'sysbox-runc', cvmEnabled: true, cgroupVersion: '2' };
    expect(preflightReport({ ...base, runtimes: ['runc', 'sysbox-runc'] }).ok).toBe(true);
    const failing = preflightReport({ ...base, runtimes: ['runc'] });
    expect(failing.ok).toBe(false);
    expect(failing.checks.map((c) => c.id)).toEqual(['kernel', 'runtime', 'cgroup']);
  });
});
