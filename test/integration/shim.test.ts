/**
 * Guards the test harness itself: the test engine's `sysbox-runc` is test/runtime/sysbox-runc-shim over runc,
 * standing in for sysbox (not installable here). It must make systemd work as PID 1 (what sysbox does for an
 * /sbin/init container), where plain runc on this cgroup-v1 host cannot, and must leave other containers alone.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CVM_RUNTIME, docker, removeLabelled, requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../support/images.js';

const runLabel = `cvm-test.shim-run=${randomUUID()}`;

function runDetached(runtime: string, image: string, extraArgs: readonly string[]): Promise<string> {
  return docker(['run', '-d', '--label', runLabel, '--runtime', runtime, ...extraArgs, image]);
}

/** `systemctl is-system-running --wait` fails until systemd's bus is up, so ask again until it answers. */
async function systemStateOf(containerId: string, deadline: number): Promise<string> {
  for (;;) {
    try {
      return await docker(['exec', containerId, 'systemctl', 'is-system-running', '--wait'], 30_000);
    } catch (error) {
      // A degraded system answers "degraded" with exit status 1.
      const stdout = (error as { stdout?: string }).stdout?.trim() ?? '';
      if (stdout !== '' && stdout !== 'offline') return stdout;
      const stderr = (error as { stderr?: string }).stderr ?? '';
      if (stderr.includes('is not running') || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

async function containerState(containerId: string): Promise<{ status: string; exitCode: number }> {
  const [status = '', exitCode = ''] = (
    await docker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', containerId])
  ).split(' ');
  return { status, exitCode: Number(exitCode) };
}

describe('test engine runtime sysbox-runc (shim over runc, standing in for sysbox)', () => {
  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME, 'runc'] });
  });
  afterAll(async () => {
    await removeLabelled(runLabel);
  });

  it('runs systemd as PID 1 to running/degraded and stops it quickly on SIGRTMIN+3', async () => {
    const id = await runDetached(CVM_RUNTIME, BOOKWORM_SYSTEMD_IMAGE, [
      '--stop-signal', 'SIGRTMIN+3', '--entrypoint', '/sbin/init',
    ]);
    const state = await systemStateOf(id, Date.now() + 30_000);
    expect(['running', 'degraded']).toContain(state);
    expect(await docker(['exec', id, 'readlink', '/proc/1/exe'])).toBe('/usr/lib/systemd/systemd');

    const stopStarted = Date.now();
    await docker(['stop', '--time', '20', id]);
    expect(Date.now() - stopStarted).toBeLessThan(10_000);
    expect(await containerState(id)).toEqual({ status: 'exited', exitCode: 0 });
  });

  it('under plain runc, the same image systemd exits at once', async () => {
    const id = await runDetached('runc', BOOKWORM_SYSTEMD_IMAGE, ['--entrypoint', '/sbin/init']);
    const deadline = Date.now() + 15_000;
    let state = await containerState(id);
    while (state.status === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      state = await containerState(id);
    }
    expect(state.status).toBe('exited');
    expect(state.exitCode).not.toBe(0);
  });

  it('adds nothing to a container whose PID 1 is not /sbin/init', async () => {
    const mounts = await docker([
      'run', '--rm', '--label', runLabel, '--runtime', CVM_RUNTIME, BUSYBOX_IMAGE, 'cat', '/proc/self/mounts',
    ]);
    const mountPoints = mounts.split('\n').map((line) => line.split(' ')[1]);
    expect(mountPoints).toContain('/proc');
    expect(mountPoints).not.toContain('/run');
    expect(mountPoints).not.toContain('/run/lock');
  });
});
