/**
 * runPreflight over fixture host trees (what --host-root points at): a good node, a node that cannot run CVMs,
 * and an empty tree. The engine is the real adapter aimed at a socket that does not exist (no Docker needed);
 * the preflight against a live engine is in test/integration/preflight.test.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preflightSources } from '../../../src/daemon/host-readers.js';
import { DockerEngine } from '../../../src/engine/docker.js';
import { type PreflightConfig, runPreflight } from '../../../src/preflight/gather.js';
import type { PreflightReport } from '../../../src/preflight/report.js';

async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.join(root, path.dirname(name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
}

const GOOD_NODE = {
  'proc/sys/kernel/osrelease': '6.1.0-18-amd64\n',
  'etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\n',
  'proc/self/status': 'Name:\tnode\nCapEff:\t000001ffffffffff\n',
  'proc/sys/user/max_user_namespaces': '63121\n',
  'proc/1/mounts': '/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /var/lib/docker xfs rw 0 0\n',
  'proc/self/net/tcp': '  sl  local_address rem_address   st\n   0: 0100007F:1B9E 00000000:0000 0A 0\n',
  'sys/fs/cgroup/cgroup.controllers': 'cpu memory pids\n',
  'proc/driver/nvidia/version': 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.154.05  Thu Dec 28 2023\n',
  'proc/driver/nvidia/gpus/0000:3b:00.0/information': 'Model: Tesla T4\n',
  'dev/.keep': '',
};

const BAD_NODE = {
  'proc/sys/kernel/osrelease': '4.19.0-21-amd64\n',
  'usr/lib/os-release': 'ID=cos\nPRETTY_NAME="Container-Optimized OS from Google"\n',
  'proc/self/status': 'Name:\tnode\nCapEff:\t00000000a80425fb\n',
  'proc/sys/user/max_user_namespaces': '0\n',
  'proc/1/mounts': '/dev/sda1 / ext4 rw 0 0\nfiler:/docker /var/lib/docker nfs4 rw 0 0\n',
  'proc/self/net/tcp6': '  sl  local_address\n   0: 00000000000000000000000000000000:3AF2 00000000000000000000000000000000:0000 0A 0\n',
  'sys/fs/cgroup/unified/.keep': '',
};

describe('runPreflight over fixture host trees', () => {
  let base: string;
  const run = (hostRoot: string, overrides: Partial<PreflightConfig> = {}): Promise<PreflightReport> => {
    const config: PreflightConfig = {
      hostRoot,
      dockerHost: `unix://${path.join(base, 'no-engine.sock')}`,
      engine: 'host',
      runtime: 'sysbox-runc',
      allowNonSysboxCvmRuntime: false,
      cvmEnabled: true,
      gpusEnabled: true,
      dataRoot: '/var/lib/docker',
      ...overrides,
    };
    return runPreflight(preflightSources(config, new DockerEngine({ dockerHost: config.dockerHost })), config);
  };
  const statuses = (report: PreflightReport): Record<string, string> => Object.fromEntries(report.checks.map((c) => [c.id, c.status]));

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cvm-preflight-'));
    await tree(path.join(base, 'good'), GOOD_NODE);
    await tree(path.join(base, 'bad'), BAD_NODE);
    await mkdir(path.join(base, 'empty'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('a good node passes every host check; the missing engine fails engine, runtime and the socket mount', async () => {
    const report = await run(path.join(base, 'good'));
    expect(statuses(report)).toEqual({
      kernel: 'pass', distro: 'pass', cgroup: 'pass', privileged: 'pass', 'host-mounts': 'fail', engine: 'fail',
      runtime: 'fail', userns: 'pass', 'home-storage': 'pass', istio: 'pass', gpu: 'warn',
    });
    expect(report.ok).toBe(false);
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    expect(byId.get('kernel')?.evidence).toBe('6.1.0-18-amd64 >= 5.4');
    expect(byId.get('cgroup')?.evidence).toContain('cgroup v2');
    expect(byId.get('home-storage')?.evidence).toContain('/var/lib/docker is on xfs');
    // The fixture has a driver but no /proc/devices: GPU discovery (src/gpu) warns, naming the mount to add.
    expect(byId.get('gpu')?.evidence).toMatch(/\/proc\/devices is missing/);
    expect(byId.get('host-mounts')?.evidence).toBe(`missing: the engine socket (${path.join(base, 'no-engine.sock')})`);
  });

  it('a node that cannot run CVMs fails each reason, and names them', async () => {
    const report = await run(path.join(base, 'bad'), { engine: 'embedded', dataRoot: '/var/lib/docker' });
    expect(statuses(report)).toMatchObject({
      kernel: 'fail', distro: 'fail', cgroup: 'fail', privileged: 'fail', userns: 'fail', 'home-storage': 'fail', istio: 'warn', gpu: 'warn',
    });
    expect(report.checks.find((c) => c.id === 'home-storage')?.evidence).toBe('/var/lib/docker is on nfs4 (filer:/docker at /var/lib/docker)');
    expect(report.checks.every((c) => c.status === 'pass' || c.hint !== null)).toBe(true);
  });

  it('with CVMs disabled, the CVM-only failures are warnings and only the engine still fails', async () => {
    const report = await run(path.join(base, 'bad'), { cvmEnabled: false });
    const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.id);
    expect(failed.sort()).toEqual(['engine', 'host-mounts']);
    expect(statuses(report)).toMatchObject({ kernel: 'warn', userns: 'warn', 'home-storage': 'warn', runtime: 'warn', privileged: 'warn' });
  });

  it('an empty host root warns where nothing can be read instead of guessing', async () => {
    const report = await run(path.join(base, 'empty'));
    expect(statuses(report)).toMatchObject({
      distro: 'warn', cgroup: 'warn', privileged: 'warn', userns: 'warn', 'home-storage': 'warn', istio: 'warn', 'host-mounts': 'fail',
    });
    // No /proc/sys/kernel/osrelease and no engine: the kernel release is unknown.
    expect(report.checks.find((c) => c.id === 'kernel')?.status).toBe('warn');
  });
});
