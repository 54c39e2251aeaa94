/**
 * The real `cvm-supervisor` binary: usage errors, /healthz before the engine is up, and SIGTERM with a running
 * systemd workspace (policy stop: systemd gets SIGRTMIN+3 and exits 0; the daemon exits 0 within the grace).
 *
 * `sysbox-runc` in the test engine is real sysbox, or the test-only shim over runc on machines without it
 * (test/README.md); these tests hold on both.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../support/daemon-process.js';
import { docker, removeLabelled, requireTestEngine } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE } from '../support/images.js';
import { systemState } from '../support/systemd.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('usage', () => {
  it('prints its version and help', async () => {
    expect((await cli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--shutdown-policy');
    expect(help.stdout).toContain('CODER_INNER_IMAGE');
  });

  it.each([
    [['serve', '--shutdown-policy', 'later'], {}, '--shutdown-policy'],
    [['serve', '--no-such-flag', 'x'], {}, '--no-such-flag'],
    [['serve'], { CVM_ENABLED: 'maybe' }, 'CVM_ENABLED'],
    [['serve'], { CODER_INNER_IMAGE: 'x', CODER_CPUS: 'lots' }, 'CODER_CPUS'],
    [['serve'], { CODER_INNER_IMAGE: 'x', CODER_MOUNTS: '/a:/b:rx' }, 'CODER_MOUNTS'],
    // Checked at load: a source outside the allowed roots would leave the daemon ready without its boot workspace.
    [['serve', '--allowed-mount-root', '/srv/coder'], { CODER_INNER_IMAGE: 'x', CODER_MOUNTS: '/var/lib/elsewhere:/b' }, 'CODER_MOUNTS'],
    [['frobnicate'], {}, 'frobnicate'],
    // Without a token file /v1 is open, so only loopback may be listened on.
    [['serve', '--listen', '0.0.0.0:7070'], {}, '--listen'],
    [['serve', '--token-file', '/nonexistent/token'], {}, '--token-file'],
    // An allowed mount root that is, contains or lies in a protected path (docs/security.md).
    [['serve', '--allowed-mount-root', '/'], {}, '--allowed-mount-root: / cannot be an allowed mount root: it is the host root'],
    [['serve', '--allowed-mount-root', '/var/lib'], {}, '--allowed-mount-root: /var/lib cannot be an allowed mount root: it contains /var/lib/docker'],
    [['serve', '--state-dir', '/srv/cvm/state'], { CVM_ALLOWED_MOUNT_ROOTS: '/srv/cvm' }, 'it contains /srv/cvm/state'],
    // A CVM runtime that is not sysbox, without the escape flag.
    [['serve', '--runtime', 'runc'], {}, '--runtime: runc is not sysbox'],
  ])('%j %j exits 2 with one line naming the field', async (args, env, field) => {
    const { code, stderr, stdout } = await cli(args, env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(field);
  });
});

describe('serve', () => {
  const id = 'cli-systemd';
  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE], runtimes: ['sysbox-runc'] });
    await removeLabelled(`dev.cvm-supervisor.workspace=${id}`); // left by an interrupted earlier run
  });
  afterAll(async () => {
    await removeLabelled(`dev.cvm-supervisor.workspace=${id}`);
  });

  it('answers /healthz while the engine is unreachable, and exits 0 on SIGTERM', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvm-cli-'));
    const daemon = new DaemonProcess(['--state-dir', stateDir, '--docker-host', 'unix:///nonexistent/docker.sock'], {});
    try {
      const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 10_000, 'listening');
      const url = String(listening.msg).replace('Server listening at ', '');
      await daemon.waitForLine((l) => l.msg === 'the engine does not answer yet; retrying', 10_000, 'engine retry');
      const res = await fetch(`${url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    } finally {
      daemon.kill('SIGTERM');
    }
    expect(await daemon.exited).toBe(0);
  });

  it('stops a systemd workspace with SIGRTMIN+3 on SIGTERM and exits 0 within the grace period', { timeout: 120_000 }, async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvm-cli-'));
    const daemon = new DaemonProcess(['--state-dir', stateDir, '--shutdown-grace', '25'], {
      CVM_BOOT_WORKSPACE_ID: id,
      CODER_INNER_IMAGE: BOOKWORM_SYSTEMD_IMAGE,
      CODER_INNER_USERNAME: 'coder',
    });
    try {
      await daemon.waitForPhase(id, 'running');
      expect(await docker(['exec', `cvm-${id}`, 'cat', '/proc/1/comm'])).toBe('systemd');
      // Give systemd time to finish booting, so the stop below is a real shutdown, not an interrupted boot.
      expect(['running', 'degraded']).toContain(await systemState(`cvm-${id}`, 90_000));
    } catch (err) {
      daemon.kill('SIGKILL');
      throw err;
    }
    const before = Date.now();
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    const elapsedMs = Date.now() - before;
    expect(elapsedMs).toBeLessThan(30_000);
    // systemd halts on SIGRTMIN+3 and exits 0; the engine's SIGKILL after the timeout would give 137.
    expect(await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', `cvm-${id}`])).toBe('exited 0');
    expect(await docker(['inspect', '-f', '{{.Config.StopSignal}}', `cvm-${id}`])).toBe('SIGRTMIN+3');
    expect(daemon.lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
  });
});
