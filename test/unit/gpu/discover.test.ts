/**
 * GPU discovery on fixture host trees (test/fixtures/gpu/<host>), which stand in for real NVIDIA hosts: no GPU is
 * available here. Device nodes are stand-in files read by FixtureHostFs (see there).
 */
import { describe, expect, it } from 'vitest';
import { discoverGpus, type GpuNodeFacts, parseDriverVersion, parseProcDevices } from '../../../src/gpu/discover.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';
import { withTexts } from './helpers.js';

const discover = (host: string, root = '/'): Promise<GpuNodeFacts> => discoverGpus(new FixtureHostFs(host, root));
const numbers = (facts: GpuNodeFacts) => facts.controlDevices.map((d) => `${d.hostPath} ${d.major}:${d.minor}`);

describe('discoverGpus: GPUs, devices and driver', () => {
  it('reads a 1-GPU host with a driver before 550 (nvidia-frontend in /proc/devices) and a per-host uvm major', async () => {
    const facts = await discover('one-gpu-ubuntu');
    expect(facts.unsupported).toBeNull();
    expect(facts.driverVersion).toBe('535.129.03');
    expect(facts.gpus).toEqual([
      {
        index: 0,
        uuid: 'GPU-8d2bcb4f-5b3e-6c3b-8c7a-2f1e0c1d9a01',
        model: 'NVIDIA A10',
        busId: '0000:3b:00.0',
        minor: 0,
        device: { hostPath: '/dev/nvidia0', major: 195, minor: 0, mode: 0o666, access: 'rw' },
        migDevices: [],
      },
    ]);
    expect(numbers(facts)).toEqual(['/dev/nvidiactl 195:255', '/dev/nvidia-modeset 195:254', '/dev/nvidia-uvm 511:0', '/dev/nvidia-uvm-tools 511:1']);
  });

  it('numbers a 4-GPU host in PCI bus order, whatever the device minors, with a driver after 550 (nvidia in /proc/devices)', async () => {
    const facts = await discover('four-gpu-rhel');
    expect(facts.driverVersion).toBe('550.54.14');
    expect(facts.gpus.map((g) => [g.index, g.busId, g.minor, g.device?.hostPath])).toEqual([
      [0, '0000:17:00.0', 2, '/dev/nvidia2'],
      [1, '0000:31:00.0', 0, '/dev/nvidia0'],
      [2, '0000:b1:00.0', 3, '/dev/nvidia3'],
      [3, '0000:ca:00.0', 1, '/dev/nvidia1'],
    ]);
    expect(numbers(facts)).toContain('/dev/nvidia-uvm 508:0');
  });

  it('reads the majors from /proc/devices: a node with other numbers is reported, not passed', async () => {
    const fs = withTexts(new FixtureHostFs('one-gpu-ubuntu'), {
      '/proc/devices': 'Character devices:\n196 nvidia-frontend\n511 nvidia-uvm\n\nBlock devices:\n',
    });
    const facts = await discoverGpus(fs);
    expect(facts.gpus[0]?.device).toBeNull();
    expect(facts.unsupported).toMatch(/\/dev\/nvidia0 is char 195:0, but the driver says char 196:0; re-create it/);
  });

  it('finds the MIG capability devices of each GPU, read-only, but not the global MIG config capability', async () => {
    const facts = await discover('mig-fedora');
    expect(facts.gpus[0]?.migDevices.map((d) => `${d.hostPath} ${d.major}:${d.minor} ${d.mode.toString(8)} ${d.access}`)).toEqual([
      '/dev/nvidia-caps/nvidia-cap12 237:12 444 r',
      '/dev/nvidia-caps/nvidia-cap13 237:13 444 r',
      '/dev/nvidia-caps/nvidia-cap21 237:21 444 r',
      '/dev/nvidia-caps/nvidia-cap22 237:22 444 r',
    ]);
  });

  it.each([
    ['NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n', '535.129.03', 'x86_64'],
    ['NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.54.14  Release Build  (dvs@x)  Thu Feb 22 2024\n', '550.54.14', 'aarch64'],
  ])('parses the driver version line %j', (text, version, arch) => {
    expect(parseDriverVersion(text)).toEqual({ version, arch });
  });

  it('reads only the character devices of /proc/devices', () => {
    const majors = parseProcDevices('Character devices:\n195 nvidia\n508 nvidia-uvm\n\nBlock devices:\n509 nvidia-uvm\n');
    expect([majors.get('nvidia'), majors.get('nvidia-uvm')]).toEqual([195, 508]);
  });
});

describe('discoverGpus: driver libraries and binaries', () => {
  it('picks exactly <lib>.so.<driver version> and its soname links inside the directory (Ubuntu layout)', async () => {
    const facts = await discover('one-gpu-ubuntu');
    const dir = '/usr/lib/x86_64-linux-gnu';
    expect(facts.libraries.find((l) => l.base === 'libcuda')).toEqual({
      base: 'libcuda',
      hostPath: `${dir}/libcuda.so.535.129.03`,
      names: ['libcuda.so.535.129.03', 'libcuda.so.1'],
    });
    // A chain of two links stays inside the directory, so it counts.
    expect(facts.libraries.find((l) => l.base === 'libnvidia-cfg')?.names).toEqual([
      'libnvidia-cfg.so.535.129.03',
      'libnvidia-cfg.so.1',
      'libnvidia-cfg.so.1.chain',
    ]);
    expect(facts.binaries.map((b) => b.hostPath)).toContain('/usr/bin/nvidia-smi');
  });

  it.each(['one-gpu-ubuntu', 'four-gpu-rhel', 'mig-fedora'])('never picks a decoy on %s: libglib, another driver version, a link out of the directory', async (host) => {
    const facts = await discover(host);
    const everything = facts.libraries.flatMap((l) => [l.hostPath, ...l.names]).join(' ');
    expect(facts.libraries.length).toBeGreaterThanOrEqual(8);
    expect(everything).not.toMatch(/glib|470|elsewhere/);
    expect(facts.libraries.map((l) => l.base)).not.toContain('libnvidia-allocator');
    for (const lib of facts.libraries) expect(lib.hostPath.endsWith(`.so.${facts.driverVersion ?? '?'}`)).toBe(true);
  });

  it('finds RHEL and Fedora libraries in /usr/lib64', async () => {
    for (const host of ['four-gpu-rhel', 'mig-fedora']) {
      const facts = await discover(host);
      expect(facts.libraries.find((l) => l.base === 'libnvidia-ml')?.hostPath).toBe('/usr/lib64/libnvidia-ml.so.550.54.14');
    }
  });
});

describe('discoverGpus: nodes that refuse GPUs, with the evidence', () => {
  it.each([
    ['gke-node', /bare-metal nodes only: this is a GKE node \(the GKE driver layout \/home\/kubernetes\/bin\/nvidia exists\)/],
    ['ec2-vm', /bare-metal nodes only: this is an Amazon EC2 VM, not a \.metal instance \(DMI sys_vendor "Amazon EC2", product_name "g5\.xlarge"\)/],
    ['amd-host', /^AMD GPUs are not supported, only NVIDIA \(\/dev\/kfd exists\)$/],
    ['no-driver', /^no NVIDIA driver is loaded: \/proc\/driver\/nvidia\/version is missing$/],
  ])('%s', async (host, message) => {
    const facts = await discover(host);
    expect(facts.unsupported).toMatch(message);
    expect(facts.gpus).toEqual([]);
  });

  it('accepts an EC2 .metal host', async () => {
    const facts = await discover('ec2-metal');
    expect(facts.unsupported).toBeNull();
    expect(facts.gpus.map((g) => g.model)).toEqual(['Tesla T4']);
  });

  it.each([
    ['Google', 'Google Compute Engine', 'Google Compute Engine'],
    ['Microsoft Corporation', 'Virtual Machine', 'Microsoft Azure or Hyper-V'],
    ['QEMU', 'Standard PC (Q35 + ICH9, 2009)', 'QEMU/KVM'],
    ['Red Hat', 'KVM', 'KVM'],
    ['VMware, Inc.', 'VMware7,1', 'VMware'],
  ])('refuses a %s %s VM by DMI', async (vendor, product, kind) => {
    const fs = withTexts(new FixtureHostFs('one-gpu-ubuntu'), { '/sys/class/dmi/id/sys_vendor': `${vendor}\n`, '/sys/class/dmi/id/product_name': `${product}\n` });
    expect((await discoverGpus(fs)).unsupported).toContain(`this is a ${kind} virtual machine (DMI sys_vendor ${JSON.stringify(vendor)}`);
  });

  it('names what to mount when the host is read under another root', async () => {
    expect((await discover('no-driver', '/var/coder/host')).unsupported).toBe(
      "no NVIDIA driver is loaded: /proc/driver/nvidia/version is missing; if the node has it, mount the host's /proc/driver at /var/coder/host/proc/driver",
    );
    const fs = withTexts(new FixtureHostFs('one-gpu-ubuntu', '/var/coder/host'), {});
    const withoutCtl = { ...fs, root: fs.root, lstat: async (p: string) => (p === '/dev/nvidiactl' ? null : fs.lstat(p)) };
    expect((await discoverGpus(withoutCtl)).unsupported).toBe("/dev/nvidiactl is missing; if the node has it, mount the host's /dev at /var/coder/host/dev");
  });
});

describe('discoverGpus: incomplete host mounts', () => {
  it('refuses without /proc/devices, naming the mount', async () => {
    const fs = withTexts(new FixtureHostFs('one-gpu-ubuntu', '/var/coder/host'), { '/proc/devices': null });
    expect((await discoverGpus(fs)).unsupported).toBe(
      "/proc/devices is missing, so the nvidia-uvm major is unknown; if the node has it, mount the host's /proc/devices at /var/coder/host/proc/devices",
    );
  });

  it('refuses when the uvm module is loaded but its node was never made', async () => {
    const fs = new FixtureHostFs('one-gpu-ubuntu');
    const withoutUvm = { root: fs.root, readText: fs.readText.bind(fs), readdir: fs.readdir.bind(fs), readlink: fs.readlink.bind(fs), stat: fs.stat.bind(fs), realpath: fs.realpath.bind(fs), lstat: async (p: string) => (p === '/dev/nvidia-uvm' ? null : fs.lstat(p)) };
    expect((await discoverGpus(withoutUvm)).unsupported).toBe('the nvidia-uvm module is loaded but /dev/nvidia-uvm is missing; run nvidia-modprobe -u -c=0 on the node');
  });
});
