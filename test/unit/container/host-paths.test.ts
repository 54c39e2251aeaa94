import { describe, expect, it } from 'vitest';
import { daemonPathOfEnginePath, enginePathOf, hostPathOf } from '../../../src/container/host-paths.js';

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
