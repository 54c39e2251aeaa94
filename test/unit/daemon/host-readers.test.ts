/** The node facts and mount sources, read through HostFs from a temporary host tree (what --host-root points at). */
import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { readNodeFacts, resolveMountSources } from '../../../src/daemon/host-readers.js';
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
  beforeAll(async () => {
    hostRoot = await realpath(await mkdtemp(path.join(tmpdir(), 'cvm-host-')));
    await mkdir(path.join(hostRoot, 'srv/shared/data'), { recursive: true });
    await symlink('shared/data', path.join(hostRoot, 'srv/link'));
  });
  afterAll(async () => {
    await rm(hostRoot, { recursive: true, force: true });
  });

  it('resolves mount sources under the host root, following links, and leaves out a missing one', async () => {
    const resolved = await resolveMountSources(new NodeHostFs(hostRoot), ['/srv/shared/data', '/srv/link', '/srv/missing']);
    expect(Object.fromEntries(resolved)).toEqual({ '/srv/shared/data': `${hostRoot}/srv/shared/data`, '/srv/link': `${hostRoot}/srv/shared/data` });
  });

  it('reads the device nodes under the host root, the runtimes from the engine and the protected paths from the config', async () => {
    const config = loadConfig(['--host-root', hostRoot, '--state-dir', '/var/lib/cvm-test'], {});
    const info = { runtimes: ['runc', 'sysbox-runc'] } as EngineInfo;
    const facts = await readNodeFacts(new HostWithFuse(hostRoot), { info: () => Promise.resolve(info) }, config, '/');
    expect(facts).toMatchObject({ runtimes: ['runc', 'sysbox-runc'], hostRoot, devices: { fuse: { path: `${hostRoot}/dev/fuse`, mode: 0o666 }, tun: null } });
    expect(facts.protectedHostPaths).toContain('/var/lib/cvm-test');
  });
});
