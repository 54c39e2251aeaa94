/**
 * A GPU in a CVM, through the product's GPU plan, with a fake device node at a real host path: no GPU is available.
 * sysbox passes a device by bind-mounting the host's node at the same path, so the node must exist on this machine,
 * not in a fixture tree (gpu.test.ts, whose CVM request is refused for that reason).
 *
 * What the test makes on this machine, and removes afterwards: /dev/nvidia<N> (char 195:N, 0666; N chosen free and
 * unusual), /dev/nvidiactl (195:255) only when missing, and one driver library of a made-up version in
 * /usr/lib/x86_64-linux-gnu (the engine bind-mounts it from there). The daemon reads a fixture host root (--host-root)
 * holding /proc/driver/nvidia and DMI files, whose dev and usr are links to the real /dev and /usr; the engine sees
 * the real host (--engine-host-root /). Opening the node reaches no driver (ENXIO), which shows permission was granted.
 * Concurrent runs on one machine share /dev/nvidiactl; the one that made it removes it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuUnsupportedError } from '../../src/errors.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { detectCvmRuntime } from '../support/cvm-runtime.js';
import { CVM_RUNTIME, docker, removeLabelled, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { inspectRaw, ManagerHarness } from '../support/manager.js';

const runtime = await detectCvmRuntime();
const onlySysbox = runtime.real ? '' : ` (skipped: sysbox-runc here is ${runtime.description}, which makes device nodes as runc does)`;
const VERSION = `0.0.${String(randomInt(10_000, 99_999))}`;
const LIBRARY = `/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.${VERSION}`;
/** A minor no real machine here uses, so /dev/nvidia<MINOR> is this test's own. */
const MINOR = [...Array(100).keys()].map((i) => 100 + i).find((n) => !existsSync(`/dev/nvidia${String(n)}`)) ?? 199;
const GPU = `/dev/nvidia${String(MINOR)}`;
const CTL = '/dev/nvidiactl';
const NOBODY = '65534';
const runLabel = `cvm-test.gpu-cvm-run=${randomBytes(4).toString('hex')}`;
const spec: WorkspaceSpec = { image: BUSYBOX_IMAGE, pullPolicy: 'never', username: 'coder', gpus: { enabled: true, capabilities: 'utility' } };

let root = '';
let harness: ManagerHarness;
/** Host paths this run made, removed in afterAll. */
const made: string[] = [];

function mknod(device: string, minor: number): void {
  execFileSync('mknod', ['-m', '0666', device, 'c', '195', String(minor)]);
  made.push(device);
}

async function fixtureFile(relative: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
  await writeFile(path.join(root, relative), content);
}

async function fakeGpuHost(): Promise<void> {
  if (existsSync(GPU)) throw new Error(`${GPU} exists already`);
  mknod(GPU, MINOR);
  if (!existsSync(CTL)) mknod(CTL, 255);
  await writeFile(LIBRARY, `libnvidia-ml ${VERSION}\n`);
  made.push(LIBRARY);
  root = await mkdtemp(path.join(tmpdir(), 'cvm-gpu-cvm-host-'));
  await fixtureFile('proc/driver/nvidia/version', `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${VERSION}  (a cvm-supervisor test)\n`);
  await fixtureFile('proc/driver/nvidia/gpus/0000:ef:00.0/information', `Model: \t\t Fake CVM GPU\nGPU UUID: \t GPU-cafe0000-1111-2222-3333-${String(MINOR).padStart(12, '0')}\nBus Location: \t 0000:ef:00.0\nDevice Minor: \t ${String(MINOR)}\n`);
  await fixtureFile('proc/devices', 'Character devices:\n  1 mem\n195 nvidia-frontend\n\nBlock devices:\n  8 sd\n');
  await fixtureFile('sys/class/dmi/id/sys_vendor', 'Fake Metal Inc.\n');
  await symlink('/dev', path.join(root, 'dev'));
  await symlink('/usr', path.join(root, 'usr'));
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME] });
  await fakeGpuHost();
  harness = await ManagerHarness.create('gpucvm', { flags: ['--host-root', root, '--engine-host-root', '/'] });
}, 60_000);

afterAll(async () => {
  // Undefined when the setup failed before it: the files it made still go.
  await (harness as ManagerHarness | undefined)?.cleanup();
  await removeLabelled(runLabel);
  for (const file of made.reverse()) await rm(file, { force: true });
  if (root !== '') await rm(root, { recursive: true, force: true });
});

const inside = (id: string, user: string, script: string): Promise<string> => docker(['exec', '-u', user, `cvm-${id}`, 'sh', '-c', script]);

describe(`a GPU CVM with a fake device at a real host path (CVM runtime: ${runtime.description})`, () => {
  let id: string;

  beforeAll(async () => {
    id = harness.id('gpu');
    await harness.manager.put(id, spec);
    await harness.waitFor(id, 'running', 60_000);
  }, 90_000);

  it('gets the device at its host path, with the node numbers of the host, and the driver library read-only', async () => {
    const raw = (await inspectRaw(`cvm-${id}`)) as unknown as { HostConfig: { Runtime: string; Devices: { PathOnHost: string; PathInContainer: string }[] } };
    expect(raw.HostConfig.Runtime).toBe(CVM_RUNTIME);
    expect(raw.HostConfig.Devices.map((d) => `${d.PathOnHost}:${d.PathInContainer}`)).toEqual([`${GPU}:${GPU}`, `${CTL}:${CTL}`]);
    const nodes = await inside(id, '0', `for d in ${GPU} ${CTL}; do stat -c "%n %F %t:%T" $d; done`);
    expect(nodes.split('\n')).toEqual([`${GPU} character special file c3:${MINOR.toString(16)}`, `${CTL} character special file c3:ff`]);
    expect(await inside(id, 'coder', `cat /usr/lib/libnvidia-ml.so.${VERSION}`)).toBe(`libnvidia-ml ${VERSION}`);
  });

  it.skipIf(!runtime.real)(`shows it as nobody:nogroup, and the workspace user may open it: the host node is 0666${onlySysbox}`, async () => {
    expect(await inside(id, 'coder', `stat -c "%u:%g %a" ${GPU}`)).toBe(`${NOBODY}:${NOBODY} 666`);
    // Permission granted; then no driver answers major 195 here (ENXIO), not EACCES.
    await expect(inside(id, 'coder', `exec 3<>${GPU}`)).rejects.toThrow(/No such device or address/);
  });
});

describe('the rules sysbox imposes on devices, enforced by the product before it asks the engine', () => {
  it('refuses a GPU CVM at PUT while the host node lacks rw for others', async () => {
    await chmod(GPU, 0o600);
    try {
      const refused: unknown = await harness.manager.put(harness.id('mode'), spec).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(GpuUnsupportedError);
      expect((refused as Error).message).toMatch(new RegExp(`${GPU} on the host is mode 0600; .*NVreg_DeviceFileMode=0666`));
    } finally {
      await chmod(GPU, 0o666);
    }
  });

  it.skipIf(!runtime.real)(`sysbox itself fails a device mapped to another path, and leaves a 0600 node unusable even to root inside${onlySysbox}`, async () => {
    const run = (device: string, script: string): Promise<string> =>
      docker(['run', '--rm', '--label', runLabel, '--runtime', CVM_RUNTIME, '--device', device, BUSYBOX_IMAGE, 'sh', '-c', script]);
    // The product never asks for this (same-path rule); runc would make the node at the new path.
    await expect(run(`${GPU}:/dev/nvidia${String(MINOR + 1)}`, 'true')).rejects.toThrow(/creating device nodes caused: no such file or directory/);
    await chmod(GPU, 0o600);
    try {
      await expect(run(`${GPU}:${GPU}`, `exec 3<>${GPU}`)).rejects.toThrow(/Permission denied/);
    } finally {
      await chmod(GPU, 0o666);
    }
  });
});
