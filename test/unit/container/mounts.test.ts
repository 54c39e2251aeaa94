import { describe, expect, it } from 'vitest';
import { assertDistinctTargets, checkTarget, type MountNodeFacts, planUserMounts, recheckBinds } from '../../../src/container/mounts.js';
import type { NodeFacts } from '../../../src/container/node-facts.js';
import { InvalidSpecError, WorkspaceFailure } from '../../../src/errors.js';
import type { MountSpec } from '../../../src/spec/workspace-spec.js';

const PROTECTED = ['/var/lib/cvm-supervisor', '/var/lib/docker'];

function facts(overrides: Partial<MountNodeFacts> = {}): MountNodeFacts {
  return { hostRoot: '/', engineHostRoot: '/', allowedMountRoots: ['/srv/shared', '/home/'], protectedHostPaths: PROTECTED, ...overrides };
}

/** Runs `run`, which must throw an instance of `type`, and returns it. */
function errorOf<T extends Error>(run: () => unknown, type: abstract new (...args: never[]) => T): T {
  try {
    run();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name}`);
}

describe('planUserMounts', () => {
  const mount = (source: string, target = '/mnt/x', readOnly?: boolean): MountSpec =>
    readOnly === undefined ? { source, target } : { source, target, readOnly };

  it.each([
    ['a plain source', facts(), '/srv/shared/a', '/srv/shared/a', '/srv/shared/a'],
    ['the allowed root itself', facts(), '/srv/shared', '/srv/shared', '/srv/shared'],
    ['a symlink resolved inside an allowed root', facts(), '/srv/shared/link', '/home/coder/data', '/home/coder/data'],
    ['a daemon host root', facts({ hostRoot: '/host' }), '/srv/shared/a', '/host/srv/shared/a', '/srv/shared/a'],
    ['an engine host root', facts({ hostRoot: '/host', engineHostRoot: '/host' }), '/srv/shared/a', '/host/srv/shared/a', '/host/srv/shared/a'],
  ])('binds %s', (_name, node, source, realPath, engineSource) => {
    expect(planUserMounts([mount(source, '/data', true)], new Map([[source, realPath]]), node)).toEqual([
      { Type: 'bind', Source: engineSource, Target: '/data', ReadOnly: true },
    ]);
  });

  it('defaults to read-write and keeps the order', () => {
    const planned = planUserMounts(
      [mount('/srv/shared/b', '/b'), mount('/srv/shared/a', '/a')],
      new Map([['/srv/shared/a', '/srv/shared/a'], ['/srv/shared/b', '/srv/shared/b']]),
      facts(),
    );
    expect(planned.map((m) => [m.Source, m.ReadOnly])).toEqual([['/srv/shared/b', false], ['/srv/shared/a', false]]);
  });

  it.each([
    ['the engine socket', facts({ allowedMountRoots: ['/'] }), '/var/run/docker.sock', '/run/docker.sock', /\/var\/run\/docker\.sock \(resolves to \/run\/docker\.sock\) is not allowed: it is an engine socket/],
    ['a symlink to the socket inside an allowed root', facts(), '/srv/shared/sock', '/var/run/docker.sock', /resolves to \/var\/run\/docker\.sock.*engine socket/],
    ['a symlink leaving the host root', facts({ hostRoot: '/host' }), '/srv/shared/l', '/var/lib/cvm-supervisor', /outside the host root\) is not allowed/],
    ['/etc even when / is allowed', facts({ allowedMountRoots: ['/'] }), '/etc', '/etc', /\/etc is not allowed: it lies in \/etc/],
    ['the state dir', facts({ allowedMountRoots: ['/var/lib'] }), '/var/lib/cvm-supervisor', '/var/lib/cvm-supervisor', /lies in \/var\/lib\/cvm-supervisor/],
    ['a parent of the state dir', facts({ allowedMountRoots: ['/var'] }), '/var/lib', '/var/lib', /contains \/var\/lib\/docker/],
    ['a path outside the allowed roots', facts(), '/opt/data', '/opt/data', /not under an allowed mount root \(\/srv\/shared, \/home\)/],
    ['a `..` escape', facts(), '/srv/shared/x', '/srv/other', /resolves to \/srv\/other.*not under an allowed mount root/],
    ['a sibling sharing a prefix', facts(), '/srv/shared-not', '/srv/shared-not', /not under an allowed mount root/],
    ['any mount with no allowed roots', facts({ allowedMountRoots: [] }), '/srv/shared/a', '/srv/shared/a', /allows no user mounts/],
  ])('refuses %s', (_name, node, source, realPath, message) => {
    const error = errorOf(() => planUserMounts([mount(source)], new Map([[source, realPath]]), node), InvalidSpecError);
    expect(error.path).toBe('mounts[0].source');
    expect(error.message).toMatch(message);
  });

  it('names the failing index', () => {
    const error = errorOf(() =>
      planUserMounts([mount('/srv/shared/a'), mount('/srv/shared/b')], new Map([['/srv/shared/a', '/srv/shared/a'], ['/srv/shared/b', '/proc']]), facts()),
    InvalidSpecError);
    expect(error.path).toBe('mounts[1].source');
  });

  it('refuses when the sources were not resolved', () => {
    expect(errorOf(() => planUserMounts([mount('/srv/shared/a')], undefined, facts()), InvalidSpecError).message).toMatch(/not resolved/);
  });
});

describe('checkTarget and assertDistinctTargets', () => {
  it.each([
    ['/', /would shadow \//],
    ['/proc', /would shadow \/proc/],
    ['/proc/sys/kernel', /would shadow \/proc/],
    ['/sys', /would shadow \/sys/],
    ['/dev/shm', /would shadow \/dev/],
    ['/a/../b', /not a normalised absolute path/],
    ['rel', /not a normalised absolute path/],
  ])('refuses target %s', (target, message) => {
    expect(errorOf(() => { checkTarget(target, 't'); }, InvalidSpecError).message).toMatch(message);
  });

  it.each(['/etc/x', '/devices', '/run/user', '/var/lib/docker'])('allows target %s', (target) => {
    expect(() => { checkTarget(target, 't'); }).not.toThrow();
  });

  it('names both fields of a collision', () => {
    const error = errorOf(() => {
      assertDistinctTargets([
        { target: '/a', where: 'home.path' },
        { target: '/b', where: 'dockerData' },
        { target: '/a', where: 'mounts[0].target' },
      ]);
    }, InvalidSpecError);
    expect([error.path, error.message]).toEqual(['mounts[0].target', 'mounts[0].target: /a is already the target of home.path']);
  });

  it('passes distinct targets', () => {
    expect(() => { assertDistinctTargets([{ target: '/a', where: 'x' }, { target: '/a/b', where: 'y' }]); }).not.toThrow();
  });
});

describe('recheckBinds (before every start)', () => {
  const node = facts({ hostRoot: '/host' });
  const bind = (source: string, rw = true) => ({ source, destination: '/data', rw });
  const failureOf = (run: () => void): WorkspaceFailure => errorOf(run, WorkspaceFailure);

  it('passes binds that still resolve to themselves under an allowed root', () => {
    expect(() => { recheckBinds([bind('/srv/shared/a')], new Map([['/srv/shared/a', '/host/srv/shared/a']]), node); }).not.toThrow();
    expect(() => { recheckBinds([], new Map(), node); }).not.toThrow();
  });

  it("passes the GPU driver's files the node found, read-only, as they are", () => {
    const library = '/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14';
    const gpus = { enabled: true, facts: { libraries: [{ base: 'libcuda', hostPath: library, names: [] }], binaries: [] } } as unknown as NonNullable<NodeFacts['gpus']>;
    expect(() => { recheckBinds([bind(library, false)], new Map(), { ...node, gpus }); }).not.toThrow();
    expect(failureOf(() => { recheckBinds([bind(library, true)], new Map([[library, `/host${library}`]]), { ...node, gpus }); }).message).toMatch(/it lies in \/usr/);
  });

  it.each([
    ['a symlink swapped in', '/host/srv/secret', 'mount /data: /srv/shared/a now resolves to /srv/secret (a symlink in its path)'],
    ['a link out of the host root', '/etc', 'mount /data: /srv/shared/a now resolves to /etc, outside the host root (a symlink in its path)'],
    ['a source gone', undefined, 'mount /data: /srv/shared/a no longer exists on the host'],
  ])('refuses %s', (_name, realPath, message) => {
    const resolved = new Map(realPath === undefined ? [] : [['/srv/shared/a', realPath]]);
    const failure = failureOf(() => { recheckBinds([bind('/srv/shared/a')], resolved, node); });
    expect(failure.reason).toBe('InvalidSpec');
    expect(failure.message).toBe(`${message}; not started (restore the source, or rebuild to check it anew)`);
  });

  it('refuses a bind the policy no longer allows, and one outside the engine host root', () => {
    const narrowed = { ...node, allowedMountRoots: ['/home'] };
    expect(failureOf(() => { recheckBinds([bind('/srv/shared/a')], new Map([['/srv/shared/a', '/host/srv/shared/a']]), narrowed); }).message).toMatch(
      /^mount \/data: \/srv\/shared\/a is no longer allowed: it is not under an allowed mount root \(\/home\)/,
    );
    const engineElsewhere = { ...node, engineHostRoot: '/node' };
    expect(failureOf(() => { recheckBinds([bind('/srv/shared/a')], new Map(), engineElsewhere); }).message).toMatch(/\/srv\/shared\/a lies outside the engine's host root/);
  });
});
