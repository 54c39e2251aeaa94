/**
 * Embedded mode where it cannot work, with the real binary: a sysbox-mgr that keeps dying, a dockerd that cannot be
 * spawned, no CAP_NET_ADMIN. Each must end visibly and soon (in /readyz and the log, or an exit with one clear
 * line), never in a silent wait. Stand-in programs on PATH play the broken parts; a daemon that would start sysbox
 * runs in a mount namespace of its own (test/support/embedded.ts), so the test engine's sysbox is never touched.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath } from '../../src/engine/embedded-host.js';
import { bridgeNameFor } from '../../src/engine/embedded-plan.js';
import { type DaemonLogLine, DaemonProcess, MAIN } from '../support/daemon-process.js';
import { httpStatus, inOwnMountNamespace, inputRulesOn, linkExists } from '../support/embedded.js';

const run = promisify(execFile);
const token = randomBytes(32).toString('hex');
let base = '';
const daemons: DaemonProcess[] = [];

async function program(dir: string, name: string, script: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, name), script);
  await chmod(path.join(dir, name), 0o755);
}

/** serve --engine embedded with `bin` first on PATH; `wrap` puts a program (unshare, setpriv) in front of node. */
function serve(name: string, bin: string | null, flags: readonly string[], wrap: (argv: string[]) => { command: string; args: string[] }): { daemon: DaemonProcess; port: number; dataRoot: string } {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const dir = path.join(base, name);
  const argv = [process.execPath, MAIN, 'serve', '--engine', 'embedded', '--state-dir', path.join(dir, 'state'), '--run-dir', path.join(dir, 'run'), '--listen', `127.0.0.1:${String(port)}`, '--token-file', path.join(base, 'token'), ...flags];
  const searchPath = `${bin === null ? '' : `${bin}:`}${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  const daemon = new DaemonProcess([], { PATH: searchPath }, wrap(argv));
  daemons.push(daemon);
  return { daemon, port, dataRoot: path.join(dir, 'state', 'engine') };
}

const withoutNetAdmin = (argv: string[]): { command: string; args: string[] } => ({ command: 'setpriv', args: ['--bounding-set', '-net_admin', '--', ...argv] });
const fatalLine = (l: DaemonLogLine): boolean => l['level'] === 60;

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'cvm-embedded-faults-'));
  await writeFile(path.join(base, 'token'), `${token}\n`, { mode: 0o600 });
});

afterAll(async () => {
  for (const daemon of daemons) if (daemon.running) daemon.kill('SIGKILL');
  await Promise.all(daemons.map((d) => d.exited));
  await rm(base, { recursive: true, force: true });
});

describe('embedded mode where it cannot work', () => {
  it('a sysbox-mgr that keeps dying ends, at --engine-start-timeout, in a failure that /readyz and the log name', async () => {
    const bin = path.join(base, 'dying-sysbox');
    await program(bin, 'sysbox-mgr', `#!/bin/sh\necho 'time="2026-01-01T00:00:00Z" level=fatal msg="failed to setup docker vol mgr: /var/lib/sysbox/docker can'"'"'t be on overlayfs"' >&2\nexit 1\n`);
    await program(bin, 'sysbox-fs', '#!/bin/sh\nexec sleep 600\n');
    await program(bin, 'sysbox-runc', '#!/bin/sh\nexit 0\n');
    const { daemon, port, dataRoot } = serve('dying-sysbox', bin, ['--engine-start-timeout', '5'], (argv) => inOwnMountNamespace(argv));
    const failed = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('the embedded engine did not start'), 30_000, 'the start failure');
    expect(failed).toMatchObject({ level: 50 });
    expect(String(failed.msg)).toContain("sysbox-mgr did not come up (no /run/sysbox/sysmgr.sock) before --engine-start-timeout; its last error: failed to setup docker vol mgr: /var/lib/sysbox/docker can't be on overlayfs");
    const readyz = await fetch(`http://127.0.0.1:${String(port)}/readyz`, { headers: { authorization: `Bearer ${token}` } });
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { reasons: string[] }).reasons).toContainEqual(expect.stringContaining("the embedded engine did not start: sysbox-mgr did not come up"));
    // It gave up on sysbox: no dockerd was started, and the daemon is still up to say so.
    expect(daemon.lines.filter((l) => l.msg === 'started dockerd')).toEqual([]);
    expect(await httpStatus(`http://127.0.0.1:${String(port)}/healthz`)).toBe(200);
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(await linkExists(bridgeNameFor(dataRoot))).toBe(false);
  }, 60_000);

  it('a dockerd that cannot be spawned ends the daemon at once, exit 1, naming the spawn error; nothing is left behind', async () => {
    const bin = path.join(base, 'broken-dockerd');
    // Executable, so it is found as a shell finds it, but its interpreter does not exist: spawn fails with ENOENT.
    await program(bin, 'dockerd', '#!/nonexistent/interpreter\n');
    const startedAt = Date.now();
    const { daemon, dataRoot } = serve('broken-dockerd', bin, ['--cvm-enabled', 'false'], (argv) => inOwnMountNamespace(argv));
    expect(await daemon.exited).toBe(1);
    const elapsed = Date.now() - startedAt;
    expect(elapsed).toBeLessThan(20_000);
    const fatal = daemon.lines.find(fatalLine);
    expect(String(fatal?.msg)).toContain(`the embedded engine cannot run here: dockerd (${path.join(bin, 'dockerd')}) could not be spawned: spawn ${path.join(bin, 'dockerd')} ENOENT`);
    expect(await inputRulesOn(bridgeNameFor(dataRoot))).toEqual([]);
    expect(await linkExists(bridgeNameFor(dataRoot))).toBe(false);
  }, 60_000);

  it('without CAP_NET_ADMIN the daemon exits 1 with one clear line, and preflight says the same', async () => {
    const { daemon } = serve('no-net-admin', null, ['--cvm-enabled', 'false'], withoutNetAdmin);
    expect(await daemon.exited).toBe(1);
    const fatal = daemon.lines.filter(fatalLine);
    expect(fatal).toHaveLength(1);
    // The first thing it needs the capability for: the rule that keeps workspaces off its port, before the bridge.
    expect(String(fatal[0]?.msg)).toMatch(/^the embedded engine cannot run here: cannot keep workspaces on cvm[0-9a-f]{8} off the daemon's port \(embedded mode needs iptables and CAP_NET_ADMIN\): iptables -I INPUT -i cvm[0-9a-f]{8} .* failed: /);

    const preflight = await run('setpriv', ['--bounding-set', '-net_admin', '--', process.execPath, MAIN, 'preflight', '--json', '--engine', 'embedded', '--cvm-enabled', 'false'], { env: { PATH: process.env['PATH'] ?? '' } }).then(
      ({ stdout }) => stdout,
      (err: unknown) => String((err as { stdout?: unknown }).stdout),
    );
    const check = (JSON.parse(preflight) as { checks: { id: string; status: string; evidence: string }[] }).checks.find((c) => c.id === 'embedded-engine');
    expect(check).toMatchObject({ status: 'fail', evidence: expect.stringContaining('lacks CAP_NET_ADMIN') as unknown });
  }, 60_000);
});

describe('serve and preflight with sysbox missing', () => {
  it('say in one line at start, in /readyz and in preflight what is missing and how to get it', async (context) => {
    const installed = await findOnPath('sysbox-mgr', process.env['PATH'] ?? '');
    if (installed !== undefined) {
      context.skip(`sysbox is installed on this machine (${installed}): this test needs a PATH without it`);
      return;
    }
    // No sysbox on this PATH (the real one lives in a directory that is not on PATH here): the default engine mode.
    const { daemon, port } = serve('no-sysbox', null, [], (argv) => inOwnMountNamespace(argv));
    const line = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('sysbox is not installed'), 30_000, 'the missing sysbox');
    expect(line).toMatchObject({ level: 40 });
    expect(String(line.msg)).toContain('install sysbox (the sysbox-ce package');
    await daemon.waitForLine((l) => l.msg === 'CVMs are impossible on this machine: not ready while --cvm-enabled is true', 60_000, 'the blockers');
    const readyz = await fetch(`http://127.0.0.1:${String(port)}/readyz`, { headers: { authorization: `Bearer ${token}` } });
    const reasons = ((await readyz.json()) as { reasons: string[] }).reasons;
    expect(readyz.status).toBe(503);
    expect(reasons).toContainEqual(expect.stringMatching(/^preflight sysbox failed: not on PATH \(.*\): sysbox-mgr, sysbox-fs, sysbox-runc \(fix: install sysbox/));
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);

    const { stdout } = await run(process.execPath, [MAIN, 'preflight', '--engine', 'embedded'], { env: { PATH: process.env['PATH'] ?? '' } }).catch((err: unknown) => err as { stdout: string });
    expect(stdout).toMatch(/^sysbox\s+FAIL\s+not on PATH/m);
    expect(stdout).toMatch(/fix: install sysbox \(the sysbox-ce package/);
    expect(stdout).toMatch(/^this machine does not qualify: /m);
  }, 120_000);
});
