import { describe, expect, it } from 'vitest';
import { daemonPathOfEnginePath, enginePathOf, hostPathOf, hostPathsOfDaemonPath } from '../../../src/container/host-paths.js';
import { parseMountInfo } from '../../../src/host/mountinfo.js';

describe('hostPathOf and enginePathOf', () => {
  it.each([
    ['/srv/a', '/', '/srv/a'],
    ['/host/srv/a', '/host', '/srv/a'],
    ['/host/srv/a', '/host/', '/srv/a'],
    ['/host', '/host', '/'],
    ['/hostile/a', '/host', null],
    ['/srv/a', '/host', null],
    ['/host/../etc', '/host', null],
    ['relative', '/', null],
  ])('%s under host root %s → %s', (daemonPath, hostRoot, hostPath) => {
    expect(hostPathOf(daemonPath, hostRoot)).toBe(hostPath);
  });

  it.each([
    ['/srv/a', '/', '/srv/a'],
    ['/srv/a', '/host', '/host/srv/a'],
    ['/', '/host/', '/host'],
  ])('%s with engine host root %s → %s', (hostPath, engineHostRoot, enginePath) => {
    expect(enginePathOf(hostPath, engineHostRoot)).toBe(enginePath);
  });
});

describe('daemonPathOfEnginePath', () => {
  it.each([
    ['/var/lib/docker/overlay2/x/diff', '/', '/', '/var/lib/docker/overlay2/x/diff'],
    ['/var/lib/docker/overlay2/x/diff', '/host', '/', '/host/var/lib/docker/overlay2/x/diff'],
    ['/var/lib/cvm/docker/overlay2/x/diff', '/host', '/host', '/var/lib/cvm/docker/overlay2/x/diff'],
    ['/node/var/lib/docker/x', '/host', '/node', '/host/var/lib/docker/x'],
    ['/elsewhere/x', '/host', '/node', null],
    ['relative/x', '/', '/', null],
  ])('%s (host root %s, engine host root %s) → %s', (enginePath, hostRoot, engineHostRoot, daemonPath) => {
    expect(daemonPathOfEnginePath(enginePath, { hostRoot, engineHostRoot })).toBe(daemonPath);
  });
});

describe('hostPathsOfDaemonPath', () => {
  // The daemonset's layout: the state dir a hostPath at the same path, the token a secret (a tmpfs the kubelet
  // mounted under its pods directory), the host's /proc and /var/lib/coder under /host.
  const own = parseMountInfo([
    '100 90 0:50 / / rw - overlay overlay rw',
    '101 100 8:1 /var/lib/cvm-supervisor /var/lib/cvm-supervisor rw - ext4 /dev/sda1 rw',
    '102 100 0:61 / /var/run/secrets/cvm-supervisor ro - tmpfs tmpfs rw',
    '103 100 8:1 /var/lib/coder /host/var/lib/coder ro - ext4 /dev/sda1 rw',
    '104 100 8:3 /state /srv/elsewhere rw - ext4 /dev/sda3 rw',
  ].join('\n'));
  const host = parseMountInfo([
    '1 0 8:1 / / rw - ext4 /dev/sda1 rw',
    '2 1 0:61 / /var/lib/kubelet/pods/0f3c/volumes/kubernetes.io~secret/token rw - tmpfs tmpfs rw',
    '3 1 8:3 / /mnt/disk rw - ext4 /dev/sda3 rw',
  ].join('\n'));

  it.each([
    ['a hostPath at the same path', '/var/lib/cvm-supervisor', ['/var/lib/cvm-supervisor']],
    ['a file in it', '/var/lib/cvm-supervisor/workspaces/a.json', ['/var/lib/cvm-supervisor/workspaces/a.json']],
    ['the token, a secret', '/var/run/secrets/cvm-supervisor/token', ['/var/lib/kubelet/pods/0f3c/volumes/kubernetes.io~secret/token/token']],
    ['a file system mounted on the host elsewhere', '/srv/elsewhere/x', ['/mnt/disk/state/x']],
    ['a path under the host root', '/host/var/lib/coder/a', ['/var/lib/coder/a']],
    ['a file of the container image only', '/etc/cvm-supervisor.json', []],
  ])('%s: %s', (_name, daemonPath, hostPaths) => {
    expect(hostPathsOfDaemonPath(daemonPath, '/host', { own, host }).sort()).toEqual(hostPaths);
  });

  it('finds a file under the host root also through a second mount of its file system there', () => {
    // Without the host's table (unreadable), the daemon's own table still shows /var/lib/coder under /host.
    const withoutHost = { own, host: [] };
    expect(hostPathsOfDaemonPath('/var/lib/cvm-supervisor', '/host', withoutHost)).toEqual([]);
    const ownWithRoot = [...own, ...parseMountInfo('105 100 8:1 / /host rw - ext4 /dev/sda1 rw')];
    expect(hostPathsOfDaemonPath('/var/lib/cvm-supervisor', '/host', { own: ownWithRoot, host: [] })).toEqual(['/var/lib/cvm-supervisor']);
  });

  it('with / as the host root, the daemon path itself is in host terms', () => {
    expect(hostPathsOfDaemonPath('/var/lib/cvm-supervisor', '/', { own: [], host: [] })).toEqual(['/var/lib/cvm-supervisor']);
  });
});
