import { describe, expect, it } from 'vitest';
import {
  assembleReport,
  cgroupCheck,
  cvmBlockers,
  cvmOnly,
  engineCheck,
  kernelCheck,
  parseKernelRelease,
  runtimeCheck,
} from '../../../src/preflight/report.js';

describe('kernel', () => {
  it.each([
    ['6.18.44-fc-v769', 'pass'],
    ['6.18.44-fc-v669', 'pass'],
    ['5.4.0-1024-gcp', 'pass'],
    ['5.15.0-91-generic\n', 'pass'],
    ['5.10+', 'pass'],
    ['5.3.18-lp152.19-default', 'fail'],
    ['4.19.0-21-amd64', 'fail'],
    ['3.10.0-1160.el7.x86_64', 'fail'],
    ['garbage', 'warn'],
    ['', 'warn'],
  ] as const)('%j → %s', (release, status) => {
    expect(kernelCheck(release).status).toBe(status);
  });

  it('parses major and minor only, not the digits of a suffix', () => {
    expect(parseKernelRelease('5.4.0-1024-gcp')).toEqual([5, 4]);
    expect(parseKernelRelease('10.1')).toEqual([10, 1]);
    expect(parseKernelRelease('v5.4')).toBeNull();
  });
});

describe('engine and runtime', () => {
  it('passes an answering engine and fails one that does not, with its address', () => {
    const up = engineCheck({ version: '20.10.24' }, 'unix:///var/run/docker.sock', 'pod');
    expect(up.status).toBe('pass');
    expect(up.evidence).toContain('20.10.24');
    const down = engineCheck({ error: 'connect ENOENT /var/run/docker.sock' }, 'unix:///var/run/docker.sock', 'pod');
    expect(down.status).toBe('fail');
    expect(down.evidence).toContain('ENOENT');
    expect(down.hint).toContain('hostPath');
    expect(engineCheck({ error: 'x' }, 'unix:///var/run/docker.sock', 'machine').hint).toBe('start the engine, or check --docker-host');
  });

  it('fails a missing runtime only while CVMs are enabled', () => {
    expect(runtimeCheck(['runc'], 'sysbox-runc', true, false).status).toBe('fail');
    expect(runtimeCheck(['runc'], 'sysbox-runc', false, false).status).toBe('warn');
    expect(runtimeCheck(['runc', 'sysbox-runc'], 'sysbox-runc', true, false).status).toBe('pass');
    expect(runtimeCheck(null, 'sysbox-runc', true, false).status).toBe('fail');
    expect(runtimeCheck(null, 'sysbox-runc', false, false).status).toBe('warn');
  });

  it('fails a CVM runtime that is not sysbox, registered or not, unless the escape flag allows it (then warns)', () => {
    for (const runtimes of [['runc'], null]) {
      expect(runtimeCheck(runtimes, 'runc', true, false)).toEqual({
        id: 'runtime',
        status: 'fail',
        evidence: '--runtime runc is not sysbox: CVMs would run without a user namespace (root inside is root on the host)',
        hint: 'use --runtime sysbox-runc, or --allow-non-sysbox-cvm-runtime true to accept that',
      });
    }
    expect(runtimeCheck(['runc'], 'runc', true, true)).toMatchObject({ status: 'warn', evidence: expect.stringContaining('allowed by --allow-non-sysbox-cvm-runtime') as unknown });
    // With CVMs off the runtime is never used.
    expect(runtimeCheck(['runc'], 'runc', false, false).status).toBe('pass');
    // Another name for sysbox (the test engine's shim goes by sysbox-runc too).
    expect(runtimeCheck(['sysbox-runc-0.6'], 'sysbox-runc-0.6', true, false).status).toBe('pass');
  });
});

describe('cgroup', () => {
  it.each([
    ['2', null, 'pass', 'cgroup v2'],
    ['1', '1', 'pass', 'cgroup v1'],
    ['unknown', '2', 'pass', 'from the engine'],
    ['unknown', null, 'warn', 'unknown'],
    ['none', '1', 'fail', 'neither'],
  ] as const)('layout %s, engine %s → %s', (layout, engine, status, evidence) => {
    const check = cgroupCheck(layout, engine);
    expect(check.status).toBe(status);
    expect(check.evidence).toContain(evidence);
  });
});

describe('the report', () => {
  const fail = { id: 'kernel', status: 'fail', evidence: '4.19 < 5.4', hint: 'upgrade' } as const;

  it('is ok only when nothing fails', () => {
    expect(assembleReport([{ ...fail, status: 'warn' }]).ok).toBe(true);
    expect(assembleReport([{ ...fail, status: 'warn' }, fail]).ok).toBe(false);
  });

  it('turns a CVM-only failure into a warning while CVMs are disabled', () => {
    expect(cvmOnly(fail, true)).toEqual(fail);
    expect(cvmOnly(fail, false)).toMatchObject({ status: 'warn', evidence: '4.19 < 5.4 (CVMs are disabled)' });
    expect(cvmOnly({ ...fail, status: 'pass' }, false).status).toBe('pass');
  });

  it('names the failed checks that make CVMs impossible, and only those', () => {
    const report = assembleReport([
      fail,
      { id: 'userns', status: 'fail', evidence: 'max_user_namespaces = 0', hint: null },
      { id: 'engine', status: 'fail', evidence: 'down', hint: null },
      { id: 'istio', status: 'warn', evidence: 'ports', hint: null },
      { id: 'distro', status: 'warn', evidence: 'odd', hint: null },
    ]);
    expect(cvmBlockers(report)).toEqual(['preflight kernel failed: 4.19 < 5.4 (fix: upgrade)', 'preflight userns failed: max_user_namespaces = 0']);
  });

  it("blocks CVMs on embedded mode's own findings: no sysbox, overlayfs storage, a read-only /sys", () => {
    const failing = (id: string) => ({ id, status: 'fail', evidence: `${id} is wrong`, hint: `fix ${id}` }) as const;
    const report = assembleReport(['sysbox', 'embedded-storage', 'sysbox-access', 'embedded-engine'].map(failing));
    expect(cvmBlockers(report)).toEqual([
      'preflight sysbox failed: sysbox is wrong (fix: fix sysbox)',
      'preflight embedded-storage failed: embedded-storage is wrong (fix: fix embedded-storage)',
      'preflight sysbox-access failed: sysbox-access is wrong (fix: fix sysbox-access)',
    ]);
  });
});
