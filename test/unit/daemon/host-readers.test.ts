/** The node facts and mount sources, read through HostFs from a temporary host tree (what --host-root points at). */
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { type NodeFiles, readNodeFacts, resolveMountSources } from '../../../src/daemon/host-readers.js';
import type { EngineInfo } from '../../../src/engine/types.js';
import { type HostEntry, NodeHostFs } from '../../../src/host/host-fs.js';

/** Git cannot hold a device node: this host has /dev/fuse as a char device, mode 0666. */
class HostWithFuse extends NodeHostFs {
  override async stat(hostPath: string): Promise<HostEntry | null> {
    return hostPath === '/dev/fuse' ? { type: 'char', mode: 0o666, major: 10, minor: 229 } : super.stat(hostPath);
  }
}

describe('host readers', () => {
  let hostRoot: string;
  let daemonRoot: string;
  beforeAll(async () => {
    hostRoot = await realpath(await mkdtemp(path.join(tmpdir(), 'cvm-host-')));
    await mkdir(path.join(hostRoot, 'srv/shared/data'), { recursive: true });
    await symlink('shared/data', path.join(hostRoot, 'srv/link'));
    await mkdir(path.join(hostRoot, 'proc/1'), { recursive: true });
    await writeFile(path.join(hostRoot, 'proc/1/mountinfo'), '1 0 8:1 / /mnt/disk rw - ext4 /dev/sda1 rw\n');
    // The daemon's own files, as a fixture tree: its mount table.
    daemonRoot = await realpath(await mkdtemp(path.join(tmpdir(), 'cvm-daemon-')));
    await mkdir(path.join(daemonRoot, 'proc/self'), { recursive: true });
    await writeFile(path.join(daemonRoot, 'proc/self/mountinfo'), '2 1 8:1 /cvm-state /srv/state rw - ext4 /dev/sda1 rw\n');
  });
  afterAll(async () => {
    await rm(hostRoot, { recursive: true, force: true });
    await rm(daemonRoot, { recursive: true, force: true });
  });

  it('resolves mount sources under the host root, following links, and leaves out a missing one', async () => {
    const resolved = await resolveMountSources(new NodeHostFs(hostRoot), ['/srv/shared/data', '/srv/link', '/srv/missing']);
    expect(Object.fromEntries(resolved)).toEqual({ '/srv/shared/data': `${hostRoot}/srv/shared/data`, '/srv/link': `${hostRoot}/srv/shared/data` });
  });

  const files = (): NodeFiles => ({ host: new HostWithFuse(hostRoot), daemonFiles: new NodeHostFs(daemonRoot) });
  const engineWith = (info: Partial<EngineInfo>) => ({ info: () => Promise.resolve({ runtimes: ['runc', 'sysbox-runc'], ...info } as EngineInfo) });

  it('reads the device nodes under the host root, the runtimes from the engine and the protected paths from the config', async () => {
    const config = loadConfig(['--host-root', hostRoot, '--state-dir', '/var/lib/cvm-test'], {});
    const facts = await readNodeFacts(files(), engineWith({}), config, '/');
    expect(facts).toMatchObject({ runtimes: ['runc', 'sysbox-runc'], hostRoot, devices: { fuse: { path: `${hostRoot}/dev/fuse`, mode: 0o666 }, tun: null } });
    expect(facts.protectedHostPaths).toContain('/var/lib/cvm-test');
  });

  it("protects the engine's reported data root in host terms, wherever it is", async () => {
    const config = loadConfig(['--host-root', hostRoot, '--allowed-mount-root', '/data'], {});
    const hostMode = await readNodeFacts(files(), engineWith({ dockerRootDir: '/data/docker' }), config, '/');
    expect(hostMode.protectedHostPaths).toContain('/data/docker');
    // An engine that sees the host under /node reports its root there.
    const elsewhere = await readNodeFacts(files(), engineWith({ dockerRootDir: '/node/data/docker' }), config, '/node');
    expect(elsewhere.protectedHostPaths).toContain('/data/docker');
  });

  it("maps the daemon's own files to host terms through the mount tables", async () => {
    // The daemon's table puts its state dir on 8:1 at /srv/state; the host's has that file system at /mnt/disk.
    const config = loadConfig(['--host-root', hostRoot, '--state-dir', '/srv/state', '--token-file', '/run/secrets/token'], {});
    const facts = await readNodeFacts(files(), engineWith({}), config, '/');
    expect(facts.protectedHostPaths).toEqual(expect.arrayContaining(['/srv/state', '/mnt/disk/cvm-state', '/run/secrets/token']));
  });
});
