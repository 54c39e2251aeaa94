/**
 * assertSafe's refusals that widen what a workspace shares with the node or another container, and the spellings
 * the engine accepts for them: Docker decodes its JSON bodies with Go's encoding/json, which matches field names
 * case-insensitively and lets a later duplicate key win (seen on the test engine: `{"HostConfig":{"pidmode":"host"}}`
 * and a second top-level `hostconfig` both take effect), so the policy reads fields the same way.
 */
import { describe, expect, it } from 'vitest';
import { assertSafe, UnsafeSpecError } from '../../../src/container/hardening.js';
import type { ContainerCreateSpec } from '../../../src/engine/types.js';

const engineView = { engineHostRoot: '/', protectedHostPaths: ['/var/lib/cvm-supervisor'], allowedMountRoots: ['/srv'] };

/** What the builder makes for a plain CVM, reduced to the fields the policy reads. */
function safeSpec(): ContainerCreateSpec {
  return {
    name: 'cvm-dev-1-g1',
    Image: 'sha256:abc',
    Labels: {},
    HostConfig: {
      Runtime: 'sysbox-runc',
      NetworkMode: 'bridge',
      Mounts: [
        { Type: 'volume', Source: 'ws-dev-1-home', Target: '/home/coder' },
        { Type: 'bind', Source: '/srv/shared', Target: '/shared', ReadOnly: true, BindOptions: { Propagation: 'rprivate' } } as never,
      ],
      Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
    },
  };
}

function withHostConfig(extra: Record<string, unknown>): ContainerCreateSpec {
  const spec = safeSpec();
  return { ...spec, HostConfig: { ...spec.HostConfig, ...extra } };
}

function violationOf(spec: unknown): string | null {
  try {
    assertSafe(spec as ContainerCreateSpec, engineView);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(UnsafeSpecError);
    return (err as UnsafeSpecError).violation;
  }
}

describe('assertSafe: sharing with the node or another container', () => {
  it('passes the safe spec', () => {
    expect(violationOf(safeSpec())).toBeNull();
  });

  it.each([
    ['VolumesFrom', { VolumesFrom: ['cvm-supervisor'] }, 'VolumesFrom is set'],
    ['VolumesFrom read-only', { VolumesFrom: ['cvm-supervisor:ro'] }, 'VolumesFrom is set'],
    ['UTSMode host', { UTSMode: 'host' }, 'UTSMode is host'],
    ['UtsMode host (the spelling the engine also accepts)', { UtsMode: 'host' }, 'UTSMode is host'],
    ['PidMode of another container', { PidMode: 'container:cvm-supervisor' }, 'PidMode is container:cvm-supervisor'],
    ['IpcMode host', { IpcMode: 'host' }, 'IpcMode is host'],
    ['IpcMode of another container', { IpcMode: 'container:cvm-supervisor' }, 'IpcMode is container:cvm-supervisor'],
    ['Cgroup of another container', { Cgroup: 'container:cvm-supervisor' }, 'Cgroup is container:cvm-supervisor'],
    ['NetworkMode of another container', { NetworkMode: 'container:cvm-supervisor' }, 'NetworkMode is container:cvm-supervisor'],
  ])('refuses %s', (_name, hostConfig, violation) => {
    expect(violationOf(withHostConfig(hostConfig))).toBe(violation);
  });

  it.each(['rslave', 'rshared', 'slave', 'shared'])('refuses bind propagation %s', (propagation) => {
    const spec = safeSpec();
    spec.HostConfig.Mounts = [{ Type: 'bind', Source: '/srv/shared', Target: '/shared', BindOptions: { Propagation: propagation } } as never];
    expect(violationOf(spec)).toBe(`bind propagation "${propagation}" is not allowed`);
  });

  it.each([
    ['a lowercase pidmode', { pidmode: 'host' }, 'PidMode is host'],
    ['an upper-case PRIVILEGED', { PRIVILEGED: true }, 'Privileged is set'],
    ['a lowercase volumesfrom', { volumesfrom: ['cvm-supervisor'] }, 'VolumesFrom is set'],
    ['a lowercase capadd', { capadd: ['SYS_ADMIN'] }, 'CapAdd is set'],
    ['a second spelling of a field', { NetworkMode: 'bridge', networkmode: 'host' }, 'HostConfig has NetworkMode more than once (networkmode)'],
  ])('reads field names as the engine does: refuses %s', (_name, hostConfig, violation) => {
    expect(violationOf(withHostConfig(hostConfig))).toBe(violation);
  });

  it('refuses a second HostConfig under another spelling, which the engine would merge over the first', () => {
    expect(violationOf({ ...safeSpec(), hostconfig: { IpcMode: 'host' } })).toBe('the create body has HostConfig more than once (hostconfig)');
  });

  it('reads a mount and a device field under any spelling', () => {
    const mount = safeSpec();
    mount.HostConfig.Mounts = [{ Type: 'bind', Source: '/srv/shared', Target: '/s', bindoptions: { propagation: 'rshared' } } as never];
    expect(violationOf(mount)).toBe('bind propagation "rshared" is not allowed');
    const twice = safeSpec();
    twice.HostConfig.Mounts = [{ Type: 'bind', Source: '/srv/shared', source: '/', Target: '/s' } as never];
    expect(violationOf(twice)).toBe('a mount has Source more than once (source)');
    const device = safeSpec();
    device.HostConfig.Devices = [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', pathonhost: '/dev/mem' } as never];
    expect(violationOf(device)).toBe('a device has PathOnHost more than once (pathonhost)');
  });
});
