/**
 * A GPU driver upgrade under a stopped GPU workspace, over the fake engine, with the node's GPUs discovered from a
 * fixture host tree (test/fixtures/gpu/one-gpu-ubuntu, copied so that the test can upgrade its driver). The
 * container binds the old driver's versioned libraries, which the upgrade removed, so the engine would refuse to
 * start it: the next start makes the container again from the node's new driver, keeping the volumes.
 */
import { cp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GPU_DRIVER_LABEL } from '../../../src/container/labels.js';
import { discoverGpus } from '../../../src/gpu/discover.js';
import { FixtureHostFs, GPU_FIXTURES } from '../../support/fixture-host-fs.js';
import { Lifecycle } from './harness.js';

const OLD = '535.129.03';
const NEW = '550.54.14';
const LIBS = '/usr/lib/x86_64-linux-gnu';

let t: Lifecycle;
let host: string;

/** The node's GPUs as the daemon reads them (discovery over the host tree), as node facts. */
async function discover(): Promise<void> {
  t.node.gpus = { enabled: true, facts: await discoverGpus(new FixtureHostFs(path.relative(GPU_FIXTURES, host))) };
}

/** What a driver upgrade does to the host: the new version in /proc, the old versioned libraries replaced. */
async function upgradeDriver(): Promise<void> {
  await writeFile(path.join(host, 'proc/driver/nvidia/version'), `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${NEW}  Thu Feb 22 01:44:30 UTC 2024\n`);
  for (const name of await readdir(path.join(host, LIBS))) {
    if (name.endsWith(`.so.${OLD}`)) await rename(path.join(host, LIBS, name), path.join(host, LIBS, name.replace(OLD, NEW)));
  }
}

beforeEach(async () => {
  host = await mkdtemp(path.join(tmpdir(), 'cvm-unit-gpu-host-'));
  await cp(path.join(GPU_FIXTURES, 'one-gpu-ubuntu'), host, { recursive: true, verbatimSymlinks: true });
  t = await Lifecycle.create();
  // The engine mounts every bind source at start: one the upgrade removed fails it, as on a real node.
  t.engine.bindSourceExists = (source) => existsSync(path.join(host, source));
  await discover();
  await t.manager.init();
});
afterEach(async () => {
  await t.cleanup();
  await rm(host, { recursive: true, force: true });
});

const bindSources = (containerId: string): string[] =>
  (t.engine.container(containerId)?.spec.HostConfig.Mounts ?? []).filter((m) => m.Type === 'bind').map((m) => m.Source ?? '');

describe('a GPU driver upgrade under a stopped workspace', () => {
  it('the next start makes the container again from the new driver, keeping the volumes', async () => {
    await t.put('ws1', { gpus: { enabled: true } });
    const before = t.manager.get('ws1').containerId ?? '';
    expect(t.engine.container(before)?.spec.Labels[GPU_DRIVER_LABEL]).toBe(OLD);
    expect(bindSources(before)).toContain(`${LIBS}/libcuda.so.${OLD}`);
    await t.manager.stop('ws1');
    await t.manager.idle();

    await upgradeDriver();
    await discover();
    await t.manager.start('ws1');
    await t.manager.idle();

    const status = t.manager.get('ws1');
    expect(status).toMatchObject({ phase: 'running', outdated: false });
    expect(status.containerId).not.toBe(before);
    expect(t.engine.container(before)).toBeUndefined();
    const after = status.containerId ?? '';
    expect(t.engine.container(after)?.spec.Labels[GPU_DRIVER_LABEL]).toBe(NEW);
    expect(bindSources(after)).toContain(`${LIBS}/libcuda.so.${NEW}`);
    expect(bindSources(after).filter((s) => s.includes(OLD))).toEqual([]);
    expect(t.log('ws1')).toContain(`info: the node's GPU driver is ${NEW}, and the container binds the libraries of driver ${OLD}: making the container again`);
    expect([...t.engine.volumes.keys()]).toEqual(['cvm-ws1-home']);
  });

  it('a workspace without GPUs is not made again', async () => {
    await t.put('ws1');
    const before = t.manager.get('ws1').containerId;
    await t.manager.stop('ws1');
    await t.manager.idle();
    await upgradeDriver();
    await discover();
    await t.manager.start('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', containerId: before });
  });
});
