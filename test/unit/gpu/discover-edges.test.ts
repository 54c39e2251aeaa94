/** GPU discovery on fixture hosts with one fact changed: the parsers' edges and odd /proc or /dev contents (discover.ts). */
import { describe, expect, it } from 'vitest';
import { discoverGpus, parseDriverVersion, parseProcDevices } from '../../../src/gpu/discover.js';
import type { HostEntry, HostFs } from '../../../src/host/host-fs.js';
import { FixtureHostFs } from '../../support/fixture-host-fs.js';
import { withTexts } from './helpers.js';

const GPU_INFO = '/proc/driver/nvidia/gpus/0000:3b:00.0/information';
const MIG = '/proc/driver/nvidia/capabilities/gpu0/mig';

/** mig-fedora with some directory listings replaced and some MIG access files added. */
function withMigListing(dirs: Record<string, string[]>, texts: Record<string, string> = {}): HostFs {
  const fs = new FixtureHostFs('mig-fedora');
  return { ...withTexts(fs, texts), readdir: (p) => (Object.hasOwn(dirs, p) ? Promise.resolve(dirs[p] ?? null) : fs.readdir(p)) };
}

/** one-gpu-ubuntu with some lstat answers replaced. */
function withNodes(nodes: Record<string, HostEntry | null>, fs: HostFs = new FixtureHostFs('one-gpu-ubuntu')): HostFs {
  return { ...withTexts(fs, {}), lstat: (p) => (Object.hasOwn(nodes, p) ? Promise.resolve(nodes[p] ?? null) : fs.lstat(p)) };
}

describe('parseDriverVersion', () => {
  it('reads the NVRM line only, not an earlier line with a version in it', () => {
    expect(parseDriverVersion('GCC version:  gcc version 12.2.0\nNVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19\n')?.version).toBe('535.129.03');
  });

  it('takes a two-part version, and only a word that is a version as a whole', () => {
    expect(parseDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82  Thu Oct 19\n')?.version).toBe('470.82');
    expect(parseDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module (build-1.2, 3.4-rc) 550.54.14\n')?.version).toBe('550.54.14');
    expect(parseDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module gcc-12.2 550.54.14\n')?.version).toBe('550.54.14');
  });

  it('is null without a version word on the NVRM line', () => {
    expect(parseDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module\nGCC version:  gcc version 12.2.0\n')).toBeNull();
  });
});

describe('parseProcDevices', () => {
  it('ignores block devices listed before the character devices', () => {
    expect([...parseProcDevices('Block devices:\n  8 sd\nCharacter devices:\n195 nvidia\n')]).toEqual([['nvidia', 195]]);
  });

  it('ignores block devices whose names no character device has', () => {
    expect([...parseProcDevices('Character devices:\n195 nvidia\n\nBlock devices:\n259 blkext\n')]).toEqual([['nvidia', 195]]);
  });

  it('reads a line with any blanks around the two fields, and no line with a third field', () => {
    expect([...parseProcDevices('Character devices:\n  195  nvidia  \n196 nvidia-caps extra\n')]).toEqual([['nvidia', 195]]);
  });

  it('reads a line only when the major starts it', () => {
    expect([...parseProcDevices('Character devices:\n195 nvidia\nx237 nvidia-caps\n')]).toEqual([['nvidia', 195]]);
  });

  it('takes a section header only at the start of a line', () => {
    expect([...parseProcDevices('Block devices:\n8 sd\nno Character devices: here\n9 md\n')]).toEqual([]);
    expect([...parseProcDevices('Character devices:\n195 nvidia\nno Block devices: here\n237 nvidia-caps\n')]).toEqual([
      ['nvidia', 195],
      ['nvidia-caps', 237],
    ]);
  });

  it('reads nothing before the character devices header', () => {
    expect([...parseProcDevices('8 sd\nCharacter devices:\n195 nvidia\n')]).toEqual([['nvidia', 195]]);
  });

  it('keeps the first major of a name listed twice', () => {
    expect([...parseProcDevices('Character devices:\n195 nvidia\n196 nvidia\n')]).toEqual([['nvidia', 195]]);
  });
});

describe('discoverGpus: odd device nodes', () => {
  it('reports a device path that is not a character device', async () => {
    const facts = await discoverGpus(withNodes({ '/dev/nvidia0': { type: 'file', mode: 0o666, major: 0, minor: 0 } }));
    expect(facts.unsupported).toBe('/dev/nvidia0 is a file, but the driver says char 195:0; re-create it (nvidia-modprobe)');
  });

  it('reports a node that is not a character device even when it carries the expected numbers', async () => {
    const facts = await discoverGpus(withNodes({ '/dev/nvidia0': { type: 'file', mode: 0o666, major: 195, minor: 0 } }));
    expect(facts.unsupported).toBe('/dev/nvidia0 is a file, but the driver says char 195:0; re-create it (nvidia-modprobe)');
  });

  it('reports a character device with the right major and another minor', async () => {
    const facts = await discoverGpus(withNodes({ '/dev/nvidiactl': { type: 'char', mode: 0o666, major: 195, minor: 0 } }));
    expect(facts.unsupported).toBe('/dev/nvidiactl is char 195:0, but the driver says char 195:255; re-create it (nvidia-modprobe)');
  });

  it('joins every wrong node into the reason', async () => {
    const facts = await discoverGpus(withNodes({ '/dev/nvidia0': { type: 'file', mode: 0o666, major: 0, minor: 0 }, '/dev/nvidiactl': { type: 'char', mode: 0o666, major: 195, minor: 0 } }));
    expect(facts.unsupported).toBe(
      '/dev/nvidia0 is a file, but the driver says char 195:0; re-create it (nvidia-modprobe); /dev/nvidiactl is char 195:0, but the driver says char 195:255; re-create it (nvidia-modprobe)',
    );
  });

  it('takes the nvidia-frontend major before the "nvidia" one', async () => {
    const fs = withTexts(new FixtureHostFs('one-gpu-ubuntu'), { '/proc/devices': 'Character devices:\n196 nvidia-frontend\n195 nvidia\n511 nvidia-uvm\n' });
    expect((await discoverGpus(fs)).unsupported).toMatch(/^\/dev\/nvidia0 is char 195:0, but the driver says char 196:0/);
  });

  it('takes the major of a driver from 550 on from the "nvidia" line of /proc/devices', async () => {
    const fs = withTexts(new FixtureHostFs('one-gpu-ubuntu'), { '/proc/devices': 'Character devices:\n196 nvidia\n511 nvidia-uvm\n' });
    expect((await discoverGpus(fs)).unsupported).toMatch(/^\/dev\/nvidia0 is char 195:0, but the driver says char 196:0/);
  });

  it('says the uvm node is missing only when no other node is wrong', async () => {
    const facts = await discoverGpus(withNodes({ '/dev/nvidia-uvm': null, '/dev/nvidiactl': { type: 'char', mode: 0o666, major: 195, minor: 0 } }));
    expect(facts.unsupported).toBe('/dev/nvidiactl is char 195:0, but the driver says char 195:255; re-create it (nvidia-modprobe)');
  });
});

describe('discoverGpus: odd /proc/driver/nvidia contents', () => {
  it('gives a refused node no driver, GPUs, devices or files', async () => {
    expect(await discoverGpus(new FixtureHostFs('no-driver'))).toEqual({
      unsupported: 'no NVIDIA driver is loaded: /proc/driver/nvidia/version is missing',
      driverVersion: null,
      arch: 'x86_64',
      gpus: [],
      controlDevices: [],
      libraries: [],
      binaries: [],
      libraryDirs: [],
    });
  });

  it('skips a GPU whose information has no device minor, and then says no GPU is listed', async () => {
    const facts = await discoverGpus(withTexts(new FixtureHostFs('one-gpu-ubuntu'), { [GPU_INFO]: 'Model: NVIDIA A10\n' }));
    expect(facts.gpus).toEqual([]);
    expect(facts.unsupported).toBe('the NVIDIA driver 535.129.03 is loaded but /proc/driver/nvidia/gpus lists no GPU');
  });

  it('fills what the information file leaves out: no UUID, model unknown, the bus from the directory name', async () => {
    const facts = await discoverGpus(withTexts(new FixtureHostFs('one-gpu-ubuntu'), { [GPU_INFO]: 'Device Minor: 0\n' }));
    expect(facts.gpus.map((g) => [g.uuid, g.model, g.busId])).toEqual([['', 'unknown', '0000:3b:00.0']]);
  });

  it('numbers GPUs in bus order also when the directory lists them in another order', async () => {
    const fs = new FixtureHostFs('four-gpu-rhel');
    const reversed: HostFs = { ...withTexts(fs, {}), readdir: async (p) => (await fs.readdir(p))?.reverse() ?? null };
    expect((await discoverGpus(reversed)).gpus.map((g) => g.busId)).toEqual(['0000:17:00.0', '0000:31:00.0', '0000:b1:00.0', '0000:ca:00.0']);
  });

  it('skips a MIG access file without a device file minor', async () => {
    const fs = withTexts(new FixtureHostFs('mig-fedora'), { '/proc/driver/nvidia/capabilities/gpu0/mig/gi1/access': 'nothing here\n' });
    expect((await discoverGpus(fs)).gpus[0]?.migDevices.map((d) => d.hostPath)).toEqual(['/dev/nvidia-caps/nvidia-cap13', '/dev/nvidia-caps/nvidia-cap21', '/dev/nvidia-caps/nvidia-cap22']);
  });

  it('reads no field from a line without a colon, even a key name and a blank', async () => {
    const facts = await discoverGpus(withTexts(new FixtureHostFs('one-gpu-ubuntu'), { [GPU_INFO]: 'Device Minor: 0\nModel \n' }));
    expect(facts.gpus.map((g) => g.model)).toEqual(['unknown']);
  });

  it('reads keys with blanks around them', async () => {
    const facts = await discoverGpus(withTexts(new FixtureHostFs('one-gpu-ubuntu'), { [GPU_INFO]: ' Device Minor : 0\n\tModel\t:\tNVIDIA A10\n' }));
    expect(facts.gpus.map((g) => [g.minor, g.model])).toEqual([[0, 'NVIDIA A10']]);
  });

  it('takes the bus location from the information file over the directory name', async () => {
    const facts = await discoverGpus(withTexts(new FixtureHostFs('one-gpu-ubuntu'), { [GPU_INFO]: 'Device Minor: 0\nBus Location: 00000000:3b:00.0\n' }));
    expect(facts.gpus.map((g) => g.busId)).toEqual(['00000000:3b:00.0']);
  });

  it('reads MIG access files only under gi<N> and gi<N>/ci<N> entries', async () => {
    const fs = withMigListing(
      { [MIG]: ['gi1', 'gi10', 'gi2', 'xgi3', 'gi4x', 'config'], [`${MIG}/gi1`]: ['access', 'ci0', 'ci10', 'xci1', 'ci2x'] },
      {
        [`${MIG}/gi10/access`]: 'DeviceFileMinor: 2\n',
        [`${MIG}/gi1/ci10/access`]: 'DeviceFileMinor: 1\n',
        [`${MIG}/xgi3/access`]: 'DeviceFileMinor: 1\n',
        [`${MIG}/gi4x/access`]: 'DeviceFileMinor: 1\n',
        [`${MIG}/config/access`]: 'DeviceFileMinor: 1\n',
        [`${MIG}/gi1/xci1/access`]: 'DeviceFileMinor: 2\n',
        [`${MIG}/gi1/ci2x/access`]: 'DeviceFileMinor: 2\n',
        [`${MIG}/gi1/access/access`]: 'DeviceFileMinor: 2\n',
      },
    );
    expect((await discoverGpus(fs)).gpus[0]?.migDevices.map((d) => d.hostPath)).toEqual([
      '/dev/nvidia-caps/nvidia-cap12',
      '/dev/nvidia-caps/nvidia-cap13',
      '/dev/nvidia-caps/nvidia-cap1',
      '/dev/nvidia-caps/nvidia-cap2',
      '/dev/nvidia-caps/nvidia-cap21',
      '/dev/nvidia-caps/nvidia-cap22',
    ]);
  });

  it('reads MIG instances in name order also when the directories list them in another order', async () => {
    const fs = withMigListing({ [MIG]: ['gi2', 'gi1'], [`${MIG}/gi1`]: ['ci1', 'access', 'ci0'] }, { [`${MIG}/gi1/ci1/access`]: 'DeviceFileMinor: 1\n' });
    expect((await discoverGpus(fs)).gpus[0]?.migDevices.map((d) => d.hostPath)).toEqual([
      '/dev/nvidia-caps/nvidia-cap12',
      '/dev/nvidia-caps/nvidia-cap13',
      '/dev/nvidia-caps/nvidia-cap1',
      '/dev/nvidia-caps/nvidia-cap21',
      '/dev/nvidia-caps/nvidia-cap22',
    ]);
  });

  it('reads no MIG device when /proc/devices lists no nvidia-caps major', async () => {
    const fs = withTexts(new FixtureHostFs('mig-fedora'), { '/proc/devices': 'Character devices:\n195 nvidia\n510 nvidia-uvm\n' });
    const facts = await discoverGpus(fs);
    expect(facts.unsupported).toBeNull();
    expect(facts.gpus[0]?.migDevices).toEqual([]);
  });

  it('names the library directories it searched, multiarch first', async () => {
    expect((await discoverGpus(new FixtureHostFs('one-gpu-ubuntu'))).libraryDirs).toEqual(['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib']);
  });
});
