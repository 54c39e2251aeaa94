/** The preflight `gpu` check on fixture hosts (stand-ins for NVIDIA hosts; see test/unit/gpu/discover.test.ts). */
import { describe, expect, it } from 'vitest';
import { discoverGpus } from '../../../src/gpu/discover.js';
import { gpuCheck } from '../../../src/preflight/gpu-check.js';
import { assembleReport } from '../../../src/preflight/report.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';

const facts = (host: string) => discoverGpus(new FixtureHostFs(host));

describe('gpuCheck', () => {
  it('passes on a GPU host, with the GPUs and the driver as evidence', async () => {
    expect(gpuCheck({ enabled: true, facts: await facts('four-gpu-rhel') })).toMatchObject({
      id: 'gpu',
      status: 'pass',
      evidence: expect.stringMatching(/^4 GPU\(s\) \(0: NVIDIA L40S, 1: NVIDIA L40S, 2: NVIDIA L40S, 3: NVIDIA L40S\), driver 550\.54\.14, \d+ driver libraries$/) as unknown,
    });
  });

  it('warns, with the reason, where GPU requests will be refused; a node without GPUs does not fail preflight', async () => {
    const check = gpuCheck({ enabled: true, facts: await facts('ec2-vm') });
    expect(check.status).toBe('warn');
    expect(check.evidence).toMatch(/Amazon EC2 VM/);
    const report = assembleReport([gpuCheck({ enabled: true, facts: await facts('no-driver') })]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => `${c.id}:${c.status}`)).toEqual(['gpu:warn']);
  });

  it('warns when the driver is loaded but no library of its version is found', async () => {
    const host = await facts('one-gpu-ubuntu');
    const check = gpuCheck({ enabled: true, facts: { ...host, libraries: [] } });
    expect(check).toMatchObject({ status: 'warn', hint: expect.stringContaining('CODER_USR_LIB_DIR') as unknown });
  });

  it('passes when GPUs are disabled', async () => {
    expect(gpuCheck({ enabled: false, facts: await facts('amd-host') })).toMatchObject({ status: 'pass', evidence: 'GPU passthrough is disabled (--gpus-enabled false)' });
  });
});
