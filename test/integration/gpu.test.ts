/**
 * GPU passthrough against the real engine, with fake NVIDIA hardware: no GPU is available here. A temporary host
 * root holds char devices made with mknod (major 195, and 505 standing in for the per-host nvidia-uvm major), a
 * /proc/driver/nvidia and /proc/devices as plain files, and versioned driver libraries with soname links.
 *
 * Choices, because the engine runs on this machine:
 * - --host-root and --engine-host-root both name the temporary tree: the daemon reads it there, and the engine
 *   sees it at the same place. So /dev/nvidia0 (host terms) reaches the engine as <tree>/dev/nvidia0.
 * - The workspace is a standard one (cvm: false, runc). A CVM must get each device at its host path (sysbox
 *   bind-mounts the host's node), which <tree>/dev/nvidia0 is not; with --engine-host-root / the engine would look
 *   for this machine's /dev/nvidia0, which does not exist. So the test shows the CVM request refused at PUT
 *   instead; test/unit/container/container-spec-gpu.test.ts covers the rule, and gpu-cvm.test.ts runs a GPU CVM on
 *   real sysbox with a fake node at a real host path.
 * - Opening the fake devices fails inside (no NVIDIA driver answers major 195 here): the test expects that.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuUnsupportedError, WorkspaceNotFoundError } from '../../src/errors.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { type ApiUnderTest, buildApiUnderTest, expectApiError } from '../support/api.js';
import { CVM_RUNTIME, docker, requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, inspectRaw, ManagerHarness, ScopedEngine } from '../support/manager.js';

const VERSION = '535.129.03';
const UVM_MAJOR = 505;
const UUIDS = ['GPU-0a0a0a0a-1111-2222-3333-444444444401', 'GPU-0b0b0b0b-1111-2222-3333-444444444402'];
const LIB_DIR = 'usr/lib/x86_64-linux-gnu';

let root: string;
let harness: ManagerHarness;
let api: ApiUnderTest;

async function file(relative: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
  await writeFile(path.join(root, relative), content);
  await chmod(path.join(root, relative), mode);
}

function mknod(relative: string, major: number, minor: number): void {
  execFileSync('mknod', ['-m', '0666', path.join(root, relative), 'c', String(major), String(minor)]);
}

async function fakeNvidiaHost(): Promise<void> {
  await file('proc/driver/nvidia/version', `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${VERSION}  Thu Oct 19 18:56:32 UTC 2023\n`);
  for (const [minor, uuid] of UUIDS.entries()) {
    await file(
      `proc/driver/nvidia/gpus/0000:0${minor + 1}:00.0/information`,
      `Model: \t\t Fake A10\nGPU UUID: \t ${uuid}\nBus Location: \t 0000:0${minor + 1}:00.0\nDevice Minor: \t ${minor}\n`,
    );
  }
  await file('proc/devices', `Character devices:\n  1 mem\n195 nvidia-frontend\n${UVM_MAJOR} nvidia-uvm\n\nBlock devices:\n  8 sd\n`);
  await file('sys/class/dmi/id/sys_vendor', 'Fake Metal Inc.\n');
  await file('sys/class/dmi/id/product_name', 'Bare Metal 1\n');
  await mkdir(path.join(root, 'dev'), { recursive: true });
  mknod('dev/nvidia0', 195, 0);
  mknod('dev/nvidia1', 195, 1);
  mknod('dev/nvidiactl', 195, 255);
  mknod('dev/nvidia-modeset', 195, 254);
  mknod('dev/nvidia-uvm', UVM_MAJOR, 0);
  mknod('dev/nvidia-uvm-tools', UVM_MAJOR, 1);
  for (const lib of ['libcuda', 'libnvidia-ml', 'libnvidia-ptxjitcompiler']) {
    await file(`${LIB_DIR}/${lib}.so.${VERSION}`, `${lib} ${VERSION}\n`);
    await symlink(`${lib}.so.${VERSION}`, path.join(root, LIB_DIR, `${lib}.so.1`));
  }
  await file(`${LIB_DIR}/libnvidia-ml.so.470.82.01`, 'decoy: another driver version\n');
  await file(`${LIB_DIR}/libglib-2.0.so.0`, 'decoy: not the driver\n');
  await file('usr/bin/nvidia-smi', '#!/bin/sh\necho "fake nvidia-smi"\n', 0o755);
}

const FLAGS = () => ['--host-root', root, '--engine-host-root', root];

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME] });
  root = await mkdtemp(path.join(tmpdir(), 'cvm-gpu-host-'));
  await fakeNvidiaHost();
  harness = await ManagerHarness.create('gpu', { flags: FLAGS() });
  api = await buildApiUnderTest({ engine: new ScopedEngine(testDockerHost(), `${harness.prefix}-api`), flags: ['--docker-host', testDockerHost(), ...FLAGS()], started: true });
}, 60_000);

afterAll(async () => {
  await api.close();
  await harness.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function inContainer(id: string, script: string): Promise<string> {
  return docker(['exec', `cvm-${id}`, 'sh', '-c', script]);
}

describe('a standard workspace with GPUs on the real engine', () => {
  let id: string;
  const spec: WorkspaceSpec = { image: BUSYBOX_IMAGE, cvm: false, gpus: { enabled: true } };

  beforeAll(async () => {
    id = harness.id('std');
    await harness.manager.put(id, spec);
    await harness.waitFor(id, 'running', 60_000);
  }, 90_000);

  it('reports the GPUs it gave the workspace', () => {
    expect(harness.manager.get(id).gpus).toEqual(UUIDS.map((uuid, index) => ({ index, uuid, model: 'Fake A10' })));
  });

  it('maps every device with cgroup permissions rwm, from the engine host root to the host path', async () => {
    const raw = (await inspectRaw(`cvm-${id}`)) as unknown as { HostConfig: { Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] } };
    const expected = ['/dev/nvidia0', '/dev/nvidia1', '/dev/nvidiactl', '/dev/nvidia-modeset', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'];
    expect(raw.HostConfig.Devices).toEqual(expected.map((p) => ({ PathOnHost: `${root}${p}`, PathInContainer: p, CgroupPermissions: 'rwm' })));
  });

  it('has the device nodes inside with the right majors and minors, allowed rwm by the device cgroup', async () => {
    const lines = (await inContainer(id, 'for d in /dev/nvidia0 /dev/nvidia1 /dev/nvidiactl /dev/nvidia-modeset /dev/nvidia-uvm /dev/nvidia-uvm-tools; do stat -c "%n %F %t %T" $d; done')).split('\n');
    const numbers = lines.map((line) => {
      const [name = '', , , , major = '', minor = ''] = line.split(' ');
      return `${name} ${parseInt(major, 16)}:${parseInt(minor, 16)}`;
    });
    expect(lines.every((line) => line.includes('character special file'))).toBe(true);
    expect(numbers).toEqual(['/dev/nvidia0 195:0', '/dev/nvidia1 195:1', '/dev/nvidiactl 195:255', '/dev/nvidia-modeset 195:254', `/dev/nvidia-uvm ${UVM_MAJOR}:0`, `/dev/nvidia-uvm-tools ${UVM_MAJOR}:1`]);
    // cgroup v1 on this machine: the container's device controller lists what it may use.
    const allowed = await inContainer(id, 'cat /sys/fs/cgroup/devices/devices.list');
    for (const rule of ['c 195:0 rwm', 'c 195:1 rwm', 'c 195:255 rwm', `c ${UVM_MAJOR}:0 rwm`, `c ${UVM_MAJOR}:1 rwm`]) expect(allowed.split('\n')).toContain(rule);
  });

  it('fails to open the fake devices: no NVIDIA driver answers major 195 on this machine', async () => {
    await expect(inContainer(id, 'cat /dev/nvidia0')).rejects.toThrow(/No such device|No such device or address/);
  });

  it('mounts the versioned libraries and their soname names read-only in the image library dir (busybox: /usr/lib)', async () => {
    const raw = (await inspectRaw(`cvm-${id}`)) as unknown as { Mounts: { Type: string; Source: string; Destination: string; RW: boolean }[] };
    const binds = raw.Mounts.filter((m) => m.Type === 'bind');
    expect(binds.every((m) => !m.RW)).toBe(true);
    expect(binds.map((m) => m.Destination).sort()).toEqual(
      [
        ...['libcuda', 'libnvidia-ml', 'libnvidia-ptxjitcompiler'].flatMap((lib) => [`/usr/lib/${lib}.so.${VERSION}`, `/usr/lib/${lib}.so.1`]),
        '/usr/bin/nvidia-smi',
      ].sort(),
    );
    expect(binds.find((m) => m.Destination === '/usr/lib/libcuda.so.1')?.Source).toBe(`${root}/${LIB_DIR}/libcuda.so.${VERSION}`);
    expect(binds.map((m) => m.Source).join(' ')).not.toMatch(/470|glib/);
  });

  it('resolves the soname names inside, refuses writes to them, and runs the mounted nvidia-smi', async () => {
    expect(await inContainer(id, 'cat /usr/lib/libcuda.so.1')).toBe(`libcuda ${VERSION}`);
    expect(await inContainer(id, `cat /usr/lib/libnvidia-ml.so.1 /usr/lib/libnvidia-ml.so.${VERSION}`)).toBe(`libnvidia-ml ${VERSION}\nlibnvidia-ml ${VERSION}`);
    await expect(inContainer(id, 'echo x >> /usr/lib/libcuda.so.1')).rejects.toThrow(/Read-only file system/);
    expect(await inContainer(id, 'nvidia-smi')).toBe('fake nvidia-smi');
  });

  it('sets the NVIDIA env, and runs ldconfig best effort: busybox has none, and the workspace still runs', async () => {
    expect((await inContainer(id, 'echo "$NVIDIA_VISIBLE_DEVICES $NVIDIA_DRIVER_CAPABILITIES"'))).toBe(`${UUIDS.join(',')} utility,compute`);
    expect(harness.manager.get(id).phase).toBe('running');
    const log = harness.manager.workspace(id)?.log.snapshot().map((e) => e.message) ?? [];
    expect(log.some((m) => /^ldconfig (could not run|exited with)/.test(m))).toBe(true);
  });
});

describe('a workspace with one selected GPU, utility only, and its own library directory', () => {
  let id: string;

  beforeAll(async () => {
    id = harness.id('libdir');
    await harness.manager.put(id, { image: BUSYBOX_IMAGE, cvm: false, gpus: { enabled: true, visibleDevices: UUIDS[1] ?? '', capabilities: 'utility', libraryDir: '/opt/nvidia/lib' } });
    await harness.waitFor(id, 'running', 60_000);
  }, 90_000);

  it('gets only that GPU, the utility library under the chosen directory, and an ld.so.conf.d entry for it', async () => {
    expect(harness.manager.get(id).gpus).toEqual([{ index: 1, uuid: UUIDS[1], model: 'Fake A10' }]);
    const raw = (await inspectRaw(`cvm-${id}`)) as unknown as { HostConfig: { Devices: { PathInContainer: string }[] }; Mounts: { Type: string; Destination: string }[] };
    expect(raw.HostConfig.Devices.map((d) => d.PathInContainer)).toEqual(['/dev/nvidia1', '/dev/nvidiactl', '/dev/nvidia-modeset', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']);
    expect(raw.Mounts.filter((m) => m.Type === 'bind').map((m) => m.Destination).sort()).toEqual(
      ['/opt/nvidia/lib/libnvidia-ml.so.1', `/opt/nvidia/lib/libnvidia-ml.so.${VERSION}`, '/usr/bin/nvidia-smi'],
    );
    expect(await inContainer(id, 'cat /opt/nvidia/lib/libnvidia-ml.so.1 /etc/ld.so.conf.d/cvm-supervisor-gpu.conf')).toBe(`libnvidia-ml ${VERSION}
/opt/nvidia/lib`);
    await expect(inContainer(id, 'test -e /dev/nvidia0')).rejects.toThrow();
  });
});

describe('GPU requests refused before anything is stored', () => {
  it('refuses a CVM whose devices the engine sees elsewhere than at their host paths (sysbox keeps host paths)', async () => {
    const id = harness.id('cvm');
    await expect(harness.manager.put(id, { image: BUSYBOX_IMAGE, gpus: { enabled: true } })).rejects.toThrow(GpuUnsupportedError);
    expect(() => harness.manager.get(id)).toThrow(WorkspaceNotFoundError);
    expect(await containersOfWorkspace(id)).toEqual([]);
  });

  it('answers 422 GpuUnsupported and 400 InvalidSpec over HTTP', async () => {
    const put = (name: string, body: WorkspaceSpec) =>
      api.app.inject({ method: 'PUT', url: `/v1/workspaces/${harness.prefix}-api-${name}`, payload: body });
    const refused = expectApiError(await put('cvm', { image: BUSYBOX_IMAGE, gpus: { enabled: true } }), 422, 'GpuUnsupported');
    expect(refused.message).toMatch(/set --engine-host-root to \//);
    const unknown = expectApiError(await put('idx', { image: BUSYBOX_IMAGE, cvm: false, gpus: { enabled: true, visibleDevices: '2' } }), 400, 'InvalidSpec');
    expect(unknown.message).toContain(`there is no GPU 2 on this node; it has: 0 (${UUIDS[0] ?? ''}, Fake A10), 1 (`);
    expect((await api.app.inject({ method: 'GET', url: `/v1/workspaces/${harness.prefix}-api-cvm` })).statusCode).toBe(404);
  });
});

describe('node reporting', () => {
  it('lists the GPUs and the driver in /v1/node, passes the gpu preflight check, and counts them in /metrics', async () => {
    const node = (await api.app.inject({ method: 'GET', url: '/v1/node' })).json<Record<string, unknown>>();
    expect(node).toMatchObject({
      gpus: UUIDS.map((uuid, index) => ({ index, uuid, model: 'Fake A10' })),
      gpusEnabled: true,
      gpuDriverVersion: VERSION,
      gpuUnsupported: null,
    });
    const preflight = (await api.app.inject({ method: 'GET', url: '/v1/preflight' })).json<{ checks: { id: string; status: string; evidence: string }[] }>();
    expect(preflight.checks.find((c) => c.id === 'gpu')).toMatchObject({ status: 'pass', evidence: expect.stringContaining(`2 GPU(s) (0: Fake A10, 1: Fake A10), driver ${VERSION}`) as unknown });
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`cvm_supervisor_gpus{driver_version="${VERSION}"} 2`);
  });
});
