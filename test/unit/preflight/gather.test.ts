/**
 * runPreflight over fixture host trees (what --host-root points at): a good node, a node that cannot run CVMs,
 * and an empty tree; and embedded mode's own checks over fixture trees of the daemon's own files (programs on
 * PATH, its mount table, /dev). The engine is the real adapter aimed at a socket that does not exist (no Docker
 * needed); the preflight against a live engine is in test/integration/preflight.test.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preflightSources } from '../../../src/daemon/host-readers.js';
import { DockerEngine } from '../../../src/engine/docker.js';
import { type HostEntry, NodeHostFs } from '../../../src/host/host-fs.js';
import { type PreflightConfig, type PreflightSources, runPreflight } from '../../../src/preflight/gather.js';
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

/** The daemon's own files in embedded mode: dockerd, ip, iptables and sysbox on PATH, writable /sys and cgroups. */
const GOOD_DAEMON = {
  'usr/sbin/dockerd': '#!/bin/sh\n',
  'usr/sbin/ip': '#!/bin/sh\n',
  'usr/sbin/iptables': '#!/bin/sh\n',
  'usr/bin/sysbox-mgr': '#!/bin/sh\n',
  'usr/bin/sysbox-fs': '#!/bin/sh\n',
  'usr/bin/sysbox-runc': '#!/bin/sh\n',
  'proc/self/mounts': [
    'overlay / overlay rw,relatime 0 0',
    'proc /proc proc rw 0 0',
    'sysfs /sys sysfs rw 0 0',
    'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0',
    '/dev/sdb1 /var/lib/cvm-supervisor ext4 rw 0 0',
  ].join('\n'),
};

/** The supervising container run without privileges: no sysbox, storage on the image's overlayfs, /sys read-only. */
const UNPRIVILEGED_DAEMON = {
  'usr/sbin/dockerd': '#!/bin/sh\n',
  'usr/sbin/ip': '#!/bin/sh\n',
  'usr/sbin/iptables': '#!/bin/sh\n',
  'proc/self/mounts': [
    'overlay / overlay rw,relatime 0 0',
    'proc /proc proc rw 0 0',
    'tmpfs /proc/kcore tmpfs rw 0 0',
    'proc /proc/bus proc ro 0 0',
    'sysfs /sys sysfs ro 0 0',
    'cgroup /sys/fs/cgroup/memory cgroup ro,memory 0 0',
  ].join('\n'),
};

/** A daemon tree with /dev/fuse as a char device (git cannot hold one). */
class DaemonFiles extends NodeHostFs {
  constructor(root: string, private readonly fuse: boolean) {
    super(root);
  }

  override async stat(daemonPath: string): Promise<HostEntry | null> {
    if (daemonPath === '/dev/fuse') return this.fuse ? { type: 'char', mode: 0o666, major: 10, minor: 229 } : null;
    const entry = await super.stat(daemonPath);
    // Programs of the fixture are executable (checked out files may not be).
    return entry?.type === 'file' && /\/(usr\/s?bin)\//.test(daemonPath) ? { ...entry, mode: 0o755 } : entry;
  }
}

describe('runPreflight over fixture host trees', () => {
  let base: string;
  const configFor = (hostRoot: string, overrides: Partial<PreflightConfig>): PreflightConfig => ({
    hostRoot,
    dockerHost: `unix://${path.join(base, 'no-engine.sock')}`,
    engine: 'host',
    runtime: 'sysbox-runc',
    allowNonSysboxCvmRuntime: false,
    cvmEnabled: true,
    gpusEnabled: true,
    dataRoot: '/var/lib/cvm-supervisor/engine',
    sysboxDataRoot: '/var/lib/cvm-supervisor/sysbox',
    ...overrides,
  });
  const run = (hostRoot: string, overrides: Partial<PreflightConfig> = {}, sources: Partial<PreflightSources> = {}): Promise<PreflightReport> => {
    const config = configFor(hostRoot, overrides);
    const defaults = preflightSources(config, new DockerEngine({ dockerHost: config.dockerHost }), { place: 'pod', ownEngine: 'live' });
    return runPreflight({ ...defaults, ...sources }, config);
  };
  const statuses = (report: PreflightReport): Record<string, string> => Object.fromEntries(report.checks.map((c) => [c.id, c.status]));

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cvm-preflight-'));
    await tree(path.join(base, 'good'), GOOD_NODE);
    await tree(path.join(base, 'bad'), BAD_NODE);
    await tree(path.join(base, 'good-daemon'), GOOD_DAEMON);
    await tree(path.join(base, 'unprivileged-daemon'), UNPRIVILEGED_DAEMON);
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
    const report = await run(path.join(base, 'bad'));
    expect(statuses(report)).toMatchObject({
      kernel: 'fail', distro: 'fail', cgroup: 'fail', privileged: 'warn', userns: 'fail', 'home-storage': 'fail', istio: 'warn', gpu: 'warn',
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

  describe('embedded mode: what its own engine needs, in the daemon\'s own files', () => {
    const embedded = (daemon: string, fuse: boolean, ownEngine: 'live' | 'not-started', overrides: Partial<PreflightConfig> = {}): Promise<PreflightReport> =>
      run(path.join(base, 'good'), { engine: 'embedded', ...overrides }, { daemonFiles: new DaemonFiles(path.join(base, daemon), fuse), searchPath: '/usr/sbin:/usr/bin', ownEngine });

    it('passes a privileged container with volumes, and before serve starts its engine says what it will run', async () => {
      const report = await embedded('good-daemon', true, 'not-started');
      expect(statuses(report)).toMatchObject({
        engine: 'pass', runtime: 'pass', 'home-storage': 'pass', 'embedded-engine': 'pass', sysbox: 'pass', 'embedded-storage': 'pass', 'sysbox-access': 'pass',
      });
      const byId = new Map(report.checks.map((c) => [c.id, c]));
      expect(byId.get('runtime')?.evidence).toBe('serve --engine embedded registers sysbox-runc=/usr/bin/sysbox-runc');
      expect(byId.get('embedded-storage')?.evidence).toContain('/var/lib/cvm-supervisor/sysbox on ext4 (/dev/sdb1 at /var/lib/cvm-supervisor)');
      // Its own engine makes its socket: the host's Docker socket is no mount it needs.
      expect(byId.get('host-mounts')?.evidence).not.toContain('socket');
    });

    it('fails what makes CVMs impossible in an unprivileged container: no sysbox, overlayfs, read-only /sys, masked /proc', async () => {
      const report = await embedded('unprivileged-daemon', false, 'not-started');
      expect(statuses(report)).toMatchObject({ runtime: 'fail', sysbox: 'fail', 'embedded-storage': 'fail', 'sysbox-access': 'fail', 'embedded-engine': 'pass' });
      const byId = new Map(report.checks.map((c) => [c.id, c]));
      expect(byId.get('sysbox')).toMatchObject({ evidence: 'not on PATH (/usr/sbin:/usr/bin): sysbox-mgr, sysbox-fs, sysbox-runc', hint: expect.stringContaining('install sysbox') as unknown });
      expect(byId.get('embedded-storage')?.evidence).toBe('/var/lib/cvm-supervisor/engine on overlay (overlay at /); /var/lib/cvm-supervisor/sysbox on overlay (overlay at /)');
      expect(byId.get('sysbox-access')?.evidence).toBe(
        '/sys is read-only; cgroups are read-only (/sys/fs/cgroup/memory); parts of /proc are masked (/proc/kcore, /proc/bus); /dev/fuse is missing',
      );
    });

    it('with CVMs disabled only the engine\'s own needs fail: overlayfs under the data root', async () => {
      const report = await embedded('unprivileged-daemon', false, 'not-started', { cvmEnabled: false });
      const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.id);
      expect(failed).toEqual(['embedded-storage']);
      expect(report.checks.find((c) => c.id === 'embedded-storage')?.evidence).toBe('/var/lib/cvm-supervisor/engine on overlay (overlay at /)');
    });

    it('in serve (its engine live) an engine that does not answer fails, naming its own socket', async () => {
      const report = await embedded('good-daemon', true, 'live');
      expect(report.checks.find((c) => c.id === 'engine')).toMatchObject({ status: 'fail', evidence: expect.stringContaining(path.join(base, 'no-engine.sock')) as unknown });
    });
  });
});
