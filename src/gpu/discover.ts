/**
 * NVIDIA GPU discovery: a pure function of the host's directory tree, read through HostFs. It reads
 * /proc/driver/nvidia (GPUs, driver version, MIG capabilities), /proc/devices (majors), the device nodes under
 * /dev, and the driver's versioned libraries and binaries. Nothing here decides what a workspace gets: plan.ts does.
 */
import type { HostFs } from '../host/host-fs.js';
import { CAPABILITIES, DRIVER_FILES } from './capabilities.js';
import { type DriverFile, findBinaries, findLibraries } from './driver-files.js';
import { amdEvidence, cloudRefusal, mountHint } from './refusals.js';

/** The major of /dev/nvidia<N> and /dev/nvidiactl, fixed by the driver. */
const NVIDIA_MAJOR = 195;
const CTL_MINOR = 255;
const MODESET_MINOR = 254;

export interface GpuDeviceNode {
  /** Host terms, e.g. /dev/nvidia0. */
  hostPath: string;
  major: number;
  minor: number;
  /** Permission bits on the host. */
  mode: number;
  /** What the workspace opens it for: sysbox shows the node as nobody:nogroup, so others need this on the host. */
  access: 'rw' | 'r';
}

export interface GpuInfo {
  /** The NVML index: GPUs in PCI bus order. */
  index: number;
  uuid: string;
  model: string;
  busId: string;
  /** Device minor: /dev/nvidia<minor>. */
  minor: number;
  /** Null when /dev/nvidia<minor> is missing under the host root. */
  device: GpuDeviceNode | null;
  /** /dev/nvidia-caps/nvidia-cap<N> of this GPU's MIG instances (empty without MIG). */
  migDevices: GpuDeviceNode[];
}

export interface GpuNodeFacts {
  /** Why no GPU can be passed on this node, with the evidence; null when GPUs can be passed. */
  unsupported: string | null;
  driverVersion: string | null;
  arch: 'x86_64' | 'aarch64';
  gpus: GpuInfo[];
  /** nvidiactl, then nvidia-modeset, nvidia-uvm, nvidia-uvm-tools when present. */
  controlDevices: GpuDeviceNode[];
  libraries: DriverFile[];
  binaries: DriverFile[];
  /** Where libraries were searched, host terms (for messages). */
  libraryDirs: string[];
}

const BINARY_DIRS = ['/usr/bin', '/usr/sbin'];

function libraryDirs(arch: string): string[] {
  return [`/usr/lib/${arch}-linux-gnu`, '/usr/lib64', '/usr/lib'];
}

/** `NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  ...` or `... Open Kernel Module for x86_64  550.54.14 ...`. */
export function parseDriverVersion(text: string): { version: string; arch: 'x86_64' | 'aarch64' } | null {
  const line = text.split('\n').find((l) => l.startsWith('NVRM version:'));
  const version = line?.split(/\s+/).find((word) => /^\d+\.\d+(\.\d+)?$/.test(word));
  if (line === undefined || version === undefined) return null;
  return { version, arch: /aarch64/.test(line) ? 'aarch64' : 'x86_64' };
}

/** The `Character devices:` part of /proc/devices: name → major. */
export function parseProcDevices(text: string): Map<string, number> {
  const majors = new Map<string, number>();
  let inCharacter = false;
  for (const line of text.split('\n')) {
    if (/^Character devices:/.test(line)) inCharacter = true;
    else if (/^Block devices:/.test(line)) inCharacter = false;
    const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
    if (inCharacter && m?.[1] !== undefined && m[2] !== undefined && !majors.has(m[2])) majors.set(m[2], Number(m[1]));
  }
  return majors;
}

/** `Key: value` lines of /proc/driver/nvidia/gpus/<bus>/information and MIG `access` files. */
function parseKeyValues(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return fields;
}

class DeviceReader {
  readonly problems: string[] = [];
  constructor(private readonly fs: HostFs) {}

  /** The node if it is a char device with the expected numbers; a node with other numbers is a problem. */
  async read(hostPath: string, major: number, minor: number, access: 'rw' | 'r'): Promise<GpuDeviceNode | null> {
    const entry = await this.fs.lstat(hostPath);
    if (entry === null) return null;
    if (entry.type !== 'char' || entry.major !== major || entry.minor !== minor) {
      const found = entry.type === 'char' ? `char ${entry.major}:${entry.minor}` : `a ${entry.type}`;
      this.problems.push(`${hostPath} is ${found}, but the driver says char ${major}:${minor}; re-create it (nvidia-modprobe)`);
      return null;
    }
    return { hostPath, major, minor, mode: entry.mode, access };
  }
}

async function readGpus(fs: HostFs, devices: DeviceReader, frontendMajor: number, capsMajor: number | undefined): Promise<GpuInfo[]> {
  const busIds = ((await fs.readdir('/proc/driver/nvidia/gpus')) ?? []).sort();
  const gpus: GpuInfo[] = [];
  for (const [index, busId] of busIds.entries()) {
    const info = parseKeyValues((await fs.readText(`/proc/driver/nvidia/gpus/${busId}/information`)) ?? '');
    const minor = Number(info.get('Device Minor'));
    if (!Number.isInteger(minor)) continue;
    const migDevices: GpuDeviceNode[] = [];
    if (capsMajor !== undefined) {
      for (const capPath of await migAccessFiles(fs, minor)) {
        const capMinor = Number(parseKeyValues((await fs.readText(capPath)) ?? '').get('DeviceFileMinor'));
        if (!Number.isInteger(capMinor)) continue;
        const node = await devices.read(`/dev/nvidia-caps/nvidia-cap${capMinor}`, capsMajor, capMinor, 'r');
        if (node) migDevices.push(node);
      }
    }
    gpus.push({
      index,
      uuid: info.get('GPU UUID') ?? '',
      model: info.get('Model') ?? 'unknown',
      busId: info.get('Bus Location') ?? busId,
      minor,
      device: await devices.read(`/dev/nvidia${minor}`, frontendMajor, minor, 'rw'),
      migDevices,
    });
  }
  return gpus;
}

/** /proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<N>/access and gi<N>/ci<M>/access. */
async function migAccessFiles(fs: HostFs, gpuMinor: number): Promise<string[]> {
  const mig = `/proc/driver/nvidia/capabilities/gpu${gpuMinor}/mig`;
  const files: string[] = [];
  for (const gi of ((await fs.readdir(mig)) ?? []).filter((n) => /^gi\d+$/.test(n)).sort()) {
    files.push(`${mig}/${gi}/access`);
    for (const ci of ((await fs.readdir(`${mig}/${gi}`)) ?? []).filter((n) => /^ci\d+$/.test(n)).sort()) files.push(`${mig}/${gi}/${ci}/access`);
  }
  return files;
}

function unsupportedFacts(reason: string): GpuNodeFacts {
  return { unsupported: reason, driverVersion: null, arch: 'x86_64', gpus: [], controlDevices: [], libraries: [], binaries: [], libraryDirs: [] };
}

export async function discoverGpus(fs: HostFs): Promise<GpuNodeFacts> {
  const cloud = await cloudRefusal(fs);
  if (cloud !== null) return unsupportedFacts(cloud);
  const driver = parseDriverVersion((await fs.readText('/proc/driver/nvidia/version')) ?? '');
  if (driver === null) {
    const amd = await amdEvidence(fs);
    if (amd !== null) return unsupportedFacts(`AMD GPUs are not supported, only NVIDIA (${amd})`);
    return unsupportedFacts(`no NVIDIA driver is loaded: /proc/driver/nvidia/version is missing${mountHint(fs, '/proc/driver')}`);
  }
  const procDevices = await fs.readText('/proc/devices');
  if (procDevices === null) {
    return unsupportedFacts(`/proc/devices is missing, so the nvidia-uvm major is unknown${mountHint(fs, '/proc/devices')}`);
  }
  const majors = parseProcDevices(procDevices);
  // Drivers before 550 list the major as nvidia-frontend, later ones as nvidia.
  const frontendMajor = majors.get('nvidia-frontend') ?? majors.get('nvidia') ?? NVIDIA_MAJOR;
  const devices = new DeviceReader(fs);
  const gpus = await readGpus(fs, devices, frontendMajor, majors.get('nvidia-caps'));
  const control = [await devices.read('/dev/nvidiactl', frontendMajor, CTL_MINOR, 'rw'), await devices.read('/dev/nvidia-modeset', frontendMajor, MODESET_MINOR, 'rw')];
  const uvmMajor = majors.get('nvidia-uvm');
  if (uvmMajor !== undefined) {
    const uvm = await devices.read('/dev/nvidia-uvm', uvmMajor, 0, 'rw');
    // The driver makes this node on first CUDA use on the host; without it CUDA fails inside.
    if (uvm === null && devices.problems.length === 0) devices.problems.push('the nvidia-uvm module is loaded but /dev/nvidia-uvm is missing; run nvidia-modprobe -u -c=0 on the node');
    control.push(uvm, await devices.read('/dev/nvidia-uvm-tools', uvmMajor, 1, 'rw'));
  }
  const dirs = libraryDirs(driver.arch);
  const libraries = await findLibraries(fs, dirs, driver.version, CAPABILITIES.flatMap((c) => DRIVER_FILES[c].libraries));
  const binaries = await findBinaries(fs, BINARY_DIRS, CAPABILITIES.flatMap((c) => DRIVER_FILES[c].binaries));
  const controlDevices = control.filter((d) => d !== null);
  let unsupported: string | null = null;
  if (devices.problems.length > 0) unsupported = devices.problems.join('; ');
  else if (gpus.length === 0) unsupported = `the NVIDIA driver ${driver.version} is loaded but /proc/driver/nvidia/gpus lists no GPU`;
  else if (controlDevices[0]?.hostPath !== '/dev/nvidiactl') unsupported = `/dev/nvidiactl is missing${mountHint(fs, '/dev')}`;
  return { unsupported, driverVersion: driver.version, arch: driver.arch, gpus, controlDevices, libraries, binaries, libraryDirs: dirs };
}
