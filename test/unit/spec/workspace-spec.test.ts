import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../../../src/errors.js';
import { isValidWorkspaceId, parseWorkspaceSpec } from '../../../src/spec/workspace-spec.js';

function errorOf(input: unknown): InvalidSpecError {
  try {
    parseWorkspaceSpec(input);
  } catch (e) {
    if (e instanceof InvalidSpecError) return e;
    throw e;
  }
  throw new Error('expected InvalidSpecError');
}

describe('parseWorkspaceSpec refuses hostile strings and numbers the schema lets through', () => {
  it.each([
    [{ image: 'busy box' }, 'image'],
    [{ image: 'busybox\u0000' }, 'image'],
    [{ image: 'busybox\u202e' }, 'image'],
    [{ image: 'bücher/box' }, 'image'],
    [{ image: 'busybox', workdir: '/home/a\u0000b' }, 'workdir'],
    [{ image: 'busybox', workdir: '/home/a\nb' }, 'workdir'],
    [{ image: 'busybox', home: { path: '/home/\u0007' } }, 'home.path'],
    [{ image: 'busybox', mounts: [{ source: '/srv/a\u0000/../../etc', target: '/x' }] }, 'mounts[0].source'],
    [{ image: 'busybox', mounts: [{ source: '/srv/a', target: '/x\u0085' }] }, 'mounts[0].target'],
    [{ image: 'busybox', resources: { memoryBytes: 1e30 } }, 'resources.memoryBytes'],
  ])('%j → %s', (input, path) => {
    expect(errorOf(input).path).toBe(path);
  });

  it('keeps legitimate unicode in paths', () => {
    expect(parseWorkspaceSpec({ image: 'busybox', workdir: '/home/用户' }).workdir).toBe('/home/用户');
  });
});

describe('parseWorkspaceSpec', () => {
  it('accepts a minimal spec and a full one', () => {
    expect(parseWorkspaceSpec({ image: 'busybox' })).toEqual({ image: 'busybox' });
    const full = {
      image: 'registry.example.com/team/dev:latest',
      cvm: true,
      username: 'coder',
      hostname: 'dev-1',
      workdir: '/home/coder',
      env: { FOO: 'bar' },
      resources: { cpus: 2, memoryBytes: 4294967296 },
      home: { volume: 'ws-dev-1-home', path: '/home/coder' },
      dockerData: { volume: 'ws-dev-1-docker' },
      mounts: [{ source: '/var/lib/coder/shared', target: '/shared', readOnly: true }],
      devices: { fuse: false, tun: false },
      gpus: { enabled: false, visibleDevices: 'all', capabilities: 'compute,utility' },
      pullPolicy: 'if-not-present',
      bootstrap: { script: '#!/bin/sh\n' },
      restartPolicy: 'on-failure',
    };
    expect(parseWorkspaceSpec(structuredClone(full))).toEqual(full);
  });

  it.each([
    [{ image: 5 }, 'image'],
    [{}, 'spec'],
    [{ image: 'a', extra: 1 }, 'extra'],
    [{ image: 'a', env: { '1A': 'x' } }, 'env.1A'],
    [{ image: 'a', env: { A: 'x\ny' } }, 'env.A'],
    [{ image: 'a', hostname: 'bad_host' }, 'hostname'],
    [{ image: 'a', username: 'Root' }, 'username'],
    [{ image: 'a', pullPolicy: 'sometimes' }, 'pullPolicy'],
    [{ image: 'a', mounts: [{ source: '/a/../b', target: '/x' }] }, 'mounts[0].source'],
    [{ image: 'a', mounts: [{ source: '/a', target: '/' }] }, 'mounts[0].target'],
    [{ image: 'a', mounts: [{ source: '/a', target: '/x/' }] }, 'mounts[0].target'],
    [{ image: 'a', workdir: 'relative' }, 'workdir'],
    [{ image: 'a', resources: { cpus: 0 } }, 'resources.cpus'],
    [{ image: 'a', gpus: { enabled: true, libraryDir: '/opt/nvidia/../lib' } }, 'gpus.libraryDir'],
    [{ image: 'a', gpus: { enabled: true, libraryDir: '/opt//lib' } }, 'gpus.libraryDir'],
    [{ image: 'a', gpus: { enabled: true, libraryDir: '/opt/lib/' } }, 'gpus.libraryDir'],
    [{ image: 'a', gpus: { enabled: true, libraryDir: '/opt/./lib' } }, 'gpus.libraryDir'],
    [{ image: 'a', gpus: { enabled: true, libraryDir: '/' } }, 'gpus.libraryDir'],
  ])('rejects %j at %s', (input, path) => {
    expect(errorOf(input).path.startsWith(path)).toBe(true);
  });
});

describe('isValidWorkspaceId', () => {
  it.each([
    ['dev-1', true],
    ['a', true],
    ['-a', false],
    ['a-', false],
    ['A', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['a_b', false],
  ])('%s → %s', (id, ok) => {
    expect(isValidWorkspaceId(id)).toBe(ok);
  });
});
