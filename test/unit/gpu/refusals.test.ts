/** The refusal rules of GPU discovery one by one (refusals.ts), each on a fixture host with one fact changed. */
import { describe, expect, it } from 'vitest';
import { amdEvidence, cloudRefusal, mountHint } from '../../../src/gpu/refusals.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';
import { withTexts } from './helpers.js';

const dmi = (vendor: string | null, product: string | null) =>
  withTexts(new FixtureHostFs('one-gpu-ubuntu'), { '/sys/class/dmi/id/sys_vendor': vendor, '/sys/class/dmi/id/product_name': product });

describe('cloudRefusal', () => {
  it('quotes a missing DMI field as "" in the evidence', async () => {
    expect(await cloudRefusal(dmi(null, 'KVM'))).toBe('GPUs in CVMs are supported on bare-metal nodes only: this is a KVM virtual machine (DMI sys_vendor "", product_name "KVM")');
    expect(await cloudRefusal(dmi('VMware, Inc.\n', null))).toBe('GPUs in CVMs are supported on bare-metal nodes only: this is a VMware virtual machine (DMI sys_vendor "VMware, Inc.", product_name "")');
  });

  it.each(['Amazon EC2 Lookalike', 'Not Amazon EC2'])('reads only the exact vendor "Amazon EC2" as EC2, not %j', async (vendor) => {
    expect(await cloudRefusal(dmi(vendor, 'g5.xlarge'))).toBeNull();
  });
});

describe('amdEvidence', () => {
  it('names the amdgpu driver directory when /dev/kfd is missing', async () => {
    const fs = withTexts(new FixtureHostFs('no-driver'), { '/sys/bus/pci/drivers/amdgpu': '' });
    expect(await amdEvidence(fs)).toBe('the amdgpu driver is in /sys/bus/pci/drivers');
    expect(await amdEvidence(new FixtureHostFs('no-driver'))).toBeNull();
  });
});

describe('mountHint', () => {
  it('joins a host root given with a trailing slash without doubling it', () => {
    expect(mountHint(new FixtureHostFs('no-driver', '/var/coder/host/'), '/dev')).toBe("; if the node has it, mount the host's /dev at /var/coder/host/dev");
    expect(mountHint(new FixtureHostFs('no-driver'), '/dev')).toBe('');
  });
});
