/**
 * The test engine's CVM runtime runs systemd as PID 1, where plain runc on this cgroup-v1 host cannot. Every CVM test
 * rests on that, so it is checked here on the engine directly (no product). `sysbox-runc` in the test engine is real
 * sysbox, or the test-only shim over runc on machines without it (test/support/cvm-runtime.ts names which; the
 * describe's name says it); these tests hold for both. What only sysbox gives (a user namespace, Docker inside) is in
 * cvm-systemd-docker.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCvmRuntime } from '../support/cvm-runtime.js';
import { CVM_RUNTIME, docker, removeLabelled, requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../support/images.js';
import { systemState } from '../support/systemd.js';

const runtime = await detectCvmRuntime();
const runLabel = `cvm-test.cvm-runtime-run=${randomUUID()}`;

function runDetached(runtimeName: string, image: string, extraArgs: readonly string[]): Promise<string> {
  return docker(['run', '-d', '--label', runLabel, '--runtime', runtimeName, ...extraArgs, image]);
}

async function containerState(containerId: string): Promise<{ status: string; exitCode: number }> {
  const [status = '', exitCode = ''] = (
    await docker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', containerId])
  ).split(' ');
  return { status, exitCode: Number(exitCode) };
}

describe(`the CVM runtime (${CVM_RUNTIME}: ${runtime.description}) runs systemd as PID 1, plain runc does not`, () => {
  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME, 'runc'] });
  });
  afterAll(async () => {
    await removeLabelled(runLabel);
  });

  it(`under ${CVM_RUNTIME}, systemd runs as PID 1 to running/degraded and halts on SIGRTMIN+3 with exit 0`, { timeout: 120_000 }, async () => {
    const id = await runDetached(CVM_RUNTIME, BOOKWORM_SYSTEMD_IMAGE, ['--stop-signal', 'SIGRTMIN+3', '--entrypoint', '/sbin/init']);
    expect(['running', 'degraded']).toContain(await systemState(id, 90_000));
    expect(await docker(['exec', id, 'readlink', '/proc/1/exe'])).toBe('/usr/lib/systemd/systemd');

    const stopStarted = Date.now();
    await docker(['stop', '--time', '20', id]);
    expect(Date.now() - stopStarted).toBeLessThan(10_000);
    expect(await containerState(id)).toEqual({ status: 'exited', exitCode: 0 });
  });

  it("under plain runc, the same image's systemd exits at once", async () => {
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

  it(`under ${CVM_RUNTIME}, a container whose PID 1 is not /sbin/init gets no systemd mounts (/run, /run/lock)`, async () => {
    const mounts = await docker(['run', '--rm', '--label', runLabel, '--runtime', CVM_RUNTIME, BUSYBOX_IMAGE, 'cat', '/proc/self/mounts']);
    const mountPoints = mounts.split('\n').map((line) => line.split(' ')[1]);
    expect(mountPoints).toContain('/proc');
    expect(mountPoints).not.toContain('/run');
    expect(mountPoints).not.toContain('/run/lock');
  });
});
