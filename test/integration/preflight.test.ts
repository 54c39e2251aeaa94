/**
 * `cvm-supervisor preflight` as an admin runs it (the real binary against the test engine), and `serve` refusing to
 * become ready on a node whose preflight makes CVMs impossible, unless CVMs are disabled. Node facts that this
 * machine does not have (user namespaces off) come from a fixture host tree given as --host-root.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PreflightReport } from '../../src/preflight/report.js';
import { DaemonProcess } from '../support/daemon-process.js';
import { requireTestEngine, testDockerHost } from '../support/engine.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '' }, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A host tree like a good node's, except that user namespaces are off (Bottlerocket's 0). */
const NO_USERNS_NODE: Record<string, string> = {
  'proc/sys/kernel/osrelease': '6.1.0-18-amd64\n',
  'etc/os-release': 'ID=ubuntu\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
  'proc/self/status': 'CapEff:\t000001ffffffffff\n',
  'proc/sys/user/max_user_namespaces': '0\n',
  'proc/1/mounts': '/dev/sda1 / ext4 rw 0 0\n',
  'sys/fs/cgroup/cgroup.controllers': 'cpu memory\n',
  'dev/.keep': '',
};

let dir: string;
let hostRoot: string;

beforeAll(async () => {
  await requireTestEngine({ runtimes: ['sysbox-runc'] });
  dir = await mkdtemp(path.join(tmpdir(), 'cvm-preflight-it-'));
  hostRoot = path.join(dir, 'host');
  for (const [name, text] of Object.entries(NO_USERNS_NODE)) {
    await mkdir(path.join(hostRoot, path.dirname(name)), { recursive: true });
    await writeFile(path.join(hostRoot, name), text);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cvm-supervisor preflight', () => {
  const engine = ['--docker-host', testDockerHost()];

  it('--json prints exactly one JSON document on stdout and exits 0 exactly when nothing fails', async () => {
    const { code, stdout } = await cli(['preflight', '--json', ...engine]);
    const report = JSON.parse(stdout) as PreflightReport;
    expect(Object.keys(report)).toEqual(['ok', 'checks']);
    expect(code).toBe(report.ok ? 0 : 1);
    const ids = report.checks.map((c) => c.id);
    expect(ids).toEqual(['kernel', 'distro', 'cgroup', 'privileged', 'host-mounts', 'engine', 'runtime', 'userns', 'home-storage', 'istio', 'gpu']);
    for (const check of report.checks) {
      expect(Object.keys(check)).toEqual(['id', 'status', 'evidence', 'hint']);
      expect(['pass', 'warn', 'fail']).toContain(check.status);
    }
    expect(report.checks.find((c) => c.id === 'engine')?.status).toBe('pass');
  });

  it('exits 1 when a check fails: an engine without the runtime asked for', async () => {
    const { code, stdout } = await cli(['preflight', '--json', ...engine, '--runtime', 'sysbox-runc-missing']);
    const report = JSON.parse(stdout) as PreflightReport;
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === 'runtime')).toMatchObject({ status: 'fail', hint: expect.stringContaining('sysbox-runc-missing') as unknown });
  });

  it('exits 1 for a CVM runtime that is not sysbox, registered as it is; the escape flag turns the failure into a warning', async () => {
    const refused = await cli(['preflight', '--json', ...engine, '--runtime', 'runc']);
    expect(refused.code).toBe(1);
    expect((JSON.parse(refused.stdout) as PreflightReport).checks.find((c) => c.id === 'runtime')).toMatchObject({
      status: 'fail',
      evidence: expect.stringContaining('--runtime runc is not sysbox') as unknown,
    });
    const allowed = await cli(['preflight', '--json', ...engine, '--runtime', 'runc', '--allow-non-sysbox-cvm-runtime', 'true']);
    expect((JSON.parse(allowed.stdout) as PreflightReport).checks.find((c) => c.id === 'runtime')?.status).toBe('warn');
  });

  it('reads the host through --host-root: user namespaces off fail, and only warn with CVMs disabled', async () => {
    const enabled = await cli(['preflight', '--json', ...engine, '--host-root', hostRoot]);
    expect(enabled.code).toBe(1);
    expect((JSON.parse(enabled.stdout) as PreflightReport).checks.find((c) => c.id === 'userns')?.status).toBe('fail');
    const disabled = await cli(['preflight', '--json', ...engine, '--host-root', hostRoot, '--cvm-enabled', 'false']);
    const report = JSON.parse(disabled.stdout) as PreflightReport;
    expect(report.checks.find((c) => c.id === 'userns')?.status).toBe('warn');
    expect(disabled.code).toBe(report.ok ? 0 : 1);
  });

  it('prints a table without --json, and a bad flag exits 2 with one line', async () => {
    const table = await cli(['preflight', ...engine, '--runtime', 'sysbox-runc-missing']);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^CHECK\s+STATUS\s+EVIDENCE$/m);
    expect(table.stdout).toMatch(/^runtime\s+FAIL\s+engine runtimes: /m);
    expect(table.stdout).toContain('fix: install sysbox');
    const bad = await cli(['preflight', '--json', '--cvm-enabled', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('--cvm-enabled') as unknown]);
  });
});

describe('serve runs the preflight at start', () => {
  const daemons: DaemonProcess[] = [];
  afterAll(async () => {
    for (const d of daemons) d.kill('SIGTERM');
    await Promise.all(daemons.map((d) => d.exited));
  });

  async function serveOn(flags: string[]): Promise<{ daemon: DaemonProcess; base: string }> {
    const daemon = new DaemonProcess(['--state-dir', await mkdtemp(path.join(dir, 'state-')), '--host-root', hostRoot, ...flags], {});
    daemons.push(daemon);
    const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 15_000, 'listening');
    await daemon.waitForLine((l) => l.msg === 'adopted existing state', 15_000, 'started');
    return { daemon, base: String(listening.msg).replace('Server listening at ', '') };
  }

  it('while CVMs are enabled, a node without user namespaces stays unready and says why, in /readyz and the log', async () => {
    const { daemon, base } = await serveOn([]);
    await daemon.waitForLine((l) => l.msg === 'CVMs are impossible on this machine: not ready while --cvm-enabled is true', 15_000, 'blockers logged');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unready', reasons: ['preflight userns failed: max_user_namespaces = 0 (fix: enable user namespaces: sysctl -w user.max_user_namespaces=15000 (Bottlerocket ships 0))'] });
    // Standard workspaces are never blocked: /v1 answers.
    expect((await fetch(`${base}/v1/workspaces`)).status).toBe(200);
  });

  it('with --cvm-enabled false the same node is ready', async () => {
    const { daemon, base } = await serveOn(['--cvm-enabled', 'false']);
    await daemon.waitForLine((l) => l.msg === 'preflight done', 15_000, 'preflight done');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status, await ready.clone().text()).toBe(200);
  });
});
