import { describe, expect, it } from 'vitest';
import { allowedRootRefusal, bindSourceViolation, forbiddenReason } from '../../../src/container/protected-paths.js';

const PROTECTED = ['/var/lib/cvm-supervisor', '/var/lib/docker'];

describe('forbiddenReason', () => {
  it.each([
    ['/', 'it is the host root'],
    ['/var/run/docker.sock', 'it is an engine socket'],
    ['/run/docker.sock', 'it is an engine socket'],
    ['/srv/shared/docker.sock', 'it is an engine socket'],
    ['/opt/containerd.sock', 'it is an engine socket'],
    ['/proc', 'it lies in /proc'],
    ['/proc/1/root', 'it lies in /proc'],
    ['/sys/fs/cgroup', 'it lies in /sys'],
    ['/dev', 'it lies in /dev'],
    ['/etc/shadow', 'it lies in /etc'],
    ['/usr/lib/x86_64-linux-gnu', 'it lies in /usr'],
    ['/boot/vmlinuz', 'it lies in /boot'],
    ['/root/.ssh', 'it lies in /root'],
    ['/run/containerd', 'it lies in /run'],
    ['/run/sysbox/sysfs.sock', 'it lies in /run'],
    ['/var/run', 'it lies in /var/run'],
    ['/var', 'it contains /var/run'],
    ['/var/lib/cvm-supervisor/state.json', 'it lies in /var/lib/cvm-supervisor'],
    ['/var/lib', 'it contains /var/lib/docker'],
    ['/var/lib/docker/volumes', 'it lies in /var/lib/docker'],
    ['/var/lib/kubelet/pods/0f3c/volumes/kubernetes.io~secret/token', 'it lies in /var/lib/kubelet'],
    ['/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs', 'it lies in /var/lib/containerd'],
    ['/var/lib/sysbox', 'it lies in /var/lib/sysbox'],
    ['/var/lib/sysboxfs/0f3c/proc', 'it lies in /var/lib/sysboxfs'],
    ['/var/lib/containers/storage', 'it lies in /var/lib/containers'],
  ])('%s: %s', (hostPath, reason) => {
    expect(forbiddenReason(hostPath, PROTECTED)).toBe(reason);
  });

  it('refuses /var/lib/docker even when no protected path names it (a data root elsewhere)', () => {
    expect(forbiddenReason('/var/lib/docker/volumes/x/_data', ['/srv/engine-data'])).toBe('it lies in /var/lib/docker');
    expect(forbiddenReason('/srv/engine-data/containers', ['/srv/engine-data'])).toBe('it lies in /srv/engine-data');
    expect(forbiddenReason('/srv', ['/srv/cvm-state'])).toBe('it contains /srv/cvm-state');
  });

  it.each(['/srv/shared', '/home/coder', '/etcetera', '/procedures', '/var/lib/docker-data', '/var/runner', '/var/lib/coder', '/usrdata'])(
    'allows %s',
    (hostPath) => {
      expect(forbiddenReason(hostPath, PROTECTED)).toBeNull();
    },
  );
});

describe('allowedRootRefusal', () => {
  it.each([
    ['/', '/ cannot be an allowed mount root: it is the host root'],
    ['/var', '/var cannot be an allowed mount root: it contains /var/run'],
    ['/var/lib', '/var/lib cannot be an allowed mount root: it contains /var/lib/docker'],
    ['/data', '/data cannot be an allowed mount root: it contains /data/cvm-state'],
    ['/etc/coder', '/etc/coder cannot be an allowed mount root: it lies in /etc'],
    ['/run/shared', '/run/shared cannot be an allowed mount root: it lies in /run'],
    ['/var/lib/kubelet/pods', '/var/lib/kubelet/pods cannot be an allowed mount root: it lies in /var/lib/kubelet'],
  ])('refuses %s', (root, message) => {
    expect(allowedRootRefusal(root, ['/data/cvm-state'])).toBe(message);
  });

  it.each(['/var/lib/coder', '/srv/shared', '/home', '/data/shared', '/srv/shared/'])('accepts %s', (root) => {
    expect(allowedRootRefusal(root, ['/data/cvm-state'])).toBeNull();
  });
});

describe('bindSourceViolation', () => {
  const driverFiles = new Set(['/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14']);
  const policy = { protectedHostPaths: PROTECTED, driverFiles, allowedMountRoots: ['/srv/shared'] };

  it('lets the GPU driver files the node found through, read-only only', () => {
    expect(bindSourceViolation({ hostPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14', readOnly: true }, policy)).toBeNull();
    expect(bindSourceViolation({ hostPath: '/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14', readOnly: false }, policy)).toBe('it lies in /usr');
  });

  it('refuses any other file in a protected path', () => {
    expect(bindSourceViolation({ hostPath: '/usr/lib/x86_64-linux-gnu/libc.so.6', readOnly: true }, policy)).toBe('it lies in /usr');
    expect(bindSourceViolation({ hostPath: '/var/lib/cvm-supervisor', readOnly: true }, policy)).toBe('it lies in /var/lib/cvm-supervisor');
    expect(bindSourceViolation({ hostPath: '/srv/shared', readOnly: false }, policy)).toBeNull();
  });

  it('refuses a bind outside every allowed mount root', () => {
    expect(bindSourceViolation({ hostPath: '/srv/other', readOnly: true }, policy)).toBe('it is not under an allowed mount root (/srv/shared)');
    expect(bindSourceViolation({ hostPath: '/srv/other', readOnly: true }, { ...policy, allowedMountRoots: [] })).toBe('it is not under an allowed mount root (none)');
  });
});
