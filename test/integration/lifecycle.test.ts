/**
 * The workspace lifecycle in-process (createManager with its real collaborators) against the test engine.
 *
 * CVMs run under the test engine's `sysbox-runc`: real sysbox, or the test-only shim over runc where sysbox is
 * missing (test/README.md). These tests hold on both; what only sysbox gives is in cvm-systemd-docker.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkspaceNotFoundError } from '../../src/errors.js';
import { BOOTSTRAP_PATH } from '../../src/lifecycle/bootstrap.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { CVM_RUNTIME, docker, requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE, NO_SLEEP_IMAGE } from '../support/images.js';
import { containersOfWorkspace, inspectRaw, ManagerHarness, sleep, volumesOfWorkspace } from '../support/manager.js';
import { systemState } from '../support/systemd.js';

interface RawContainer {
  Id: string;
  State: { Running: boolean; Status: string; ExitCode: number; StartedAt: string };
  Config: { StopSignal?: string };
  HostConfig: { Init: boolean | null };
}

const inspect = async (name: string): Promise<RawContainer> => (await inspectRaw(name)) as unknown as RawContainer;

describe('workspace lifecycle (manager against the test engine)', () => {
  let h: ManagerHarness;
  const busybox = (extra: Partial<WorkspaceSpec> = {}): WorkspaceSpec => ({ image: BUSYBOX_IMAGE, pullPolicy: 'never', ...extra });

  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE, NO_SLEEP_IMAGE], runtimes: [CVM_RUNTIME] });
    h = await ManagerHarness.create('life');
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it('runs systemd as PID 1 in a CVM and stops it cleanly with its StopSignal', { timeout: 150_000 }, async () => {
    const id = h.id('systemd');
    const name = `cvm-${id}`;
    await h.manager.put(id, { image: BOOKWORM_SYSTEMD_IMAGE, username: 'coder', pullPolicy: 'never' });
    const status = await h.waitFor(id, 'running', 60_000);
    expect(status.init?.mode).toBe('systemd');
    expect(status.runtime).toBe(CVM_RUNTIME);
    expect(await docker(['exec', name, 'cat', '/proc/1/comm'])).toBe('systemd');
    expect(['running', 'degraded']).toContain(await systemState(name, 60_000));
    expect((await inspect(name)).Config.StopSignal).toBe('SIGRTMIN+3');

    const stopStarted = Date.now();
    await h.manager.stop(id);
    await h.manager.idle();
    console.info(`systemd workspace stopped in ${Date.now() - stopStarted} ms`);
    expect(h.manager.get(id).phase).toBe('stopped');
    // SIGKILL after the stop timeout would give 137; 0 means systemd halted on SIGRTMIN+3.
    const stopped = await inspect(name);
    expect(stopped.State).toMatchObject({ Running: false, Status: 'exited', ExitCode: 0 });
  });

  it('keeps an image without /sbin/init alive with docker-init and sleep infinity', async () => {
    const id = h.id('keepalive');
    const name = `cvm-${id}`;
    await h.manager.put(id, busybox());
    const status = await h.waitFor(id, 'running');
    expect(status.init?.mode).toBe('keepalive');
    expect(await docker(['exec', name, 'cat', '/proc/1/comm'])).toBe('docker-init');
    const children = (await docker(['exec', name, 'cat', '/proc/1/task/1/children'])).split(/\s+/).filter(Boolean);
    const commands = await Promise.all(
      children.map(async (pid) => (await docker(['exec', name, 'cat', `/proc/${pid}/cmdline`])).split('\0').filter(Boolean).join(' ')),
    );
    expect(commands).toContainEqual(expect.stringMatching(/(^|\/)sleep infinity$/));
    expect((await inspect(name)).HostConfig.Init).toBe(true);
  });

  it('fails an image with neither /sbin/init nor sleep as InvalidSpec, creating no container', async () => {
    const id = h.id('nosleep');
    await h.manager.put(id, { image: NO_SLEEP_IMAGE, pullPolicy: 'never' });
    await h.manager.idle();
    const status = h.manager.get(id);
    expect(status).toMatchObject({ phase: 'failed', reason: 'InvalidSpec', containerId: null });
    expect(status.message).toMatch(/sleep/);
    expect(await containersOfWorkspace(id)).toEqual([]);
  });

  it('rebuild recreates the container and keeps the home volume; outdated follows the spec', async () => {
    const id = h.id('rebuild');
    const name = `cvm-${id}`;
    await h.manager.put(id, busybox({ username: 'coder', env: { STAGE: 'one' } }));
    const first = await h.waitFor(id, 'running');
    expect(first.outdated).toBe(false);
    await docker(['exec', '-u', 'coder', name, 'sh', '-c', 'echo kept > /home/coder/marker']);

    const { created, status: replaced } = await h.manager.put(id, busybox({ username: 'coder', env: { STAGE: 'two' } }));
    expect(created).toBe(false);
    expect(replaced.outdated).toBe(true);

    await h.manager.rebuild(id);
    await h.manager.idle();
    const rebuilt = h.manager.get(id);
    expect(rebuilt).toMatchObject({ phase: 'running', outdated: false });
    expect(rebuilt.containerId).not.toBeNull();
    expect(rebuilt.containerId).not.toBe(first.containerId);
    expect(await containersOfWorkspace(id)).toEqual([rebuilt.containerId]);
    expect(await docker(['exec', name, 'cat', '/home/coder/marker'])).toBe('kept');
    expect(await docker(['exec', name, 'sh', '-c', 'echo $STAGE'])).toBe('two');
  });

  it('delete keeps the home and dockerData volumes; delete with purge removes them', async () => {
    const id = h.id('delete');
    const volumes = [`cvm-${id}-docker`, `cvm-${id}-home`];
    const spec = busybox({ dockerData: { volume: `cvm-${id}-docker` } });
    await h.manager.put(id, spec);
    await h.waitFor(id, 'running');
    expect((await volumesOfWorkspace(id)).sort()).toEqual(volumes);

    await h.manager.delete(id, false);
    await h.manager.idle();
    expect(() => h.manager.get(id)).toThrow(WorkspaceNotFoundError);
    expect(await containersOfWorkspace(id)).toEqual([]);
    expect((await volumesOfWorkspace(id)).sort()).toEqual(volumes);

    await h.manager.put(id, spec);
    await h.waitFor(id, 'running');
    await h.manager.delete(id, true);
    await h.manager.idle();
    expect(() => h.manager.get(id)).toThrow(WorkspaceNotFoundError);
    expect(await containersOfWorkspace(id)).toEqual([]);
    expect(await volumesOfWorkspace(id)).toEqual([]);
  });

  it('a purge whose volume a container outside the daemon uses ends failed, naming it; a second DELETE finishes it', async () => {
    const owner = h.id('purge-owner');
    const volume = `cvm-${owner}-home`;
    const outsider = `${owner}-outsider`;
    await h.manager.put(owner, busybox());
    await h.waitFor(owner, 'running');
    // Workspaces never share a volume, so the one that keeps it busy is made by hand on the engine.
    await docker(['create', '--name', outsider, '-v', `${volume}:/data`, BUSYBOX_IMAGE, 'true']);
    try {
      await h.manager.delete(owner, true);
      await h.manager.idle();
      const failed = h.manager.get(owner);
      expect(failed.phase).toBe('failed');
      expect(failed.message).toMatch(new RegExp(`in use.*; left behind: volume ${volume}; DELETE again to retry$`));
      expect(await containersOfWorkspace(owner)).toEqual([]);
    } finally {
      await docker(['rm', '-f', outsider]);
    }
    await h.manager.delete(owner, true);
    await h.manager.idle();
    expect(() => h.manager.get(owner)).toThrow(WorkspaceNotFoundError);
    expect(await volumesOfWorkspace(owner)).toEqual([]);
  });

  it('runs the bootstrap script as the workspace user and logs its output; a changed script runs at the next start', async () => {
    const id = h.id('bootstrap');
    const name = `cvm-${id}`;
    const spec = (script: string): WorkspaceSpec => busybox({ username: 'coder', bootstrap: { script } });
    await h.manager.put(id, spec('#!/bin/sh\necho hello-$(id -un)'));
    await h.waitFor(id, 'running');
    const log = h.manager.workspace(id)?.log;
    if (!log) throw new Error(`no log for ${id}`);
    const bootstrapLines = async (count: number): Promise<string[]> => {
      const deadline = Date.now() + 15_000;
      const lines = (): string[] => log.snapshot().filter((e) => e.kind === 'bootstrap').map((e) => e.message);
      while (lines().filter((line) => /exited with code/.test(line)).length < count && Date.now() < deadline) await sleep(100);
      return lines();
    };
    expect(await bootstrapLines(1)).toEqual(expect.arrayContaining(['hello-coder', 'bootstrap exited with code 0']));
    // Only the workspace user may read it (it carries the agent's token), even inside the CVM's user namespace.
    expect(await docker(['exec', name, 'stat', '-c', '%U:%G %a', BOOTSTRAP_PATH])).toBe('coder:coder 500');

    const { status } = await h.manager.put(id, spec('echo second-$(id -un)'));
    expect(status.outdated).toBe(false);
    await h.manager.restart(id);
    await h.manager.idle();
    expect(await bootstrapLines(2)).toContain('second-coder');
  });

  it('writes a root workspace’s bootstrap file 0700', async () => {
    const id = h.id('bootstrap-root');
    await h.manager.put(id, busybox({ bootstrap: { script: 'echo as-$(id -un)' } }));
    await h.waitFor(id, 'running');
    expect(await docker(['exec', `cvm-${id}`, 'stat', '-c', '%U:%G %a', BOOTSTRAP_PATH])).toBe('root:root 700');
  });

  it('stop, start and restart keep the same container', async () => {
    const id = h.id('cycle');
    const name = `cvm-${id}`;
    await h.manager.put(id, busybox());
    const { containerId } = await h.waitFor(id, 'running');
    const firstStart = (await inspect(name)).State.StartedAt;

    await h.manager.stop(id);
    await h.manager.idle();
    expect(h.manager.get(id)).toMatchObject({ phase: 'stopped', containerId });
    expect((await inspect(name)).State.Running).toBe(false);

    await h.manager.start(id);
    await h.manager.idle();
    expect(h.manager.get(id)).toMatchObject({ phase: 'running', containerId });
    const secondStart = (await inspect(name)).State;
    expect(secondStart.Running).toBe(true);
    expect(Date.parse(secondStart.StartedAt)).toBeGreaterThan(Date.parse(firstStart));

    await h.manager.restart(id);
    await h.manager.idle();
    expect(h.manager.get(id)).toMatchObject({ phase: 'running', containerId });
    const thirdStart = (await inspect(name)).State;
    expect(thirdStart.Running).toBe(true);
    expect(Date.parse(thirdStart.StartedAt)).toBeGreaterThan(Date.parse(secondStart.StartedAt));
    expect(await containersOfWorkspace(id)).toEqual([containerId]);
  });
});
