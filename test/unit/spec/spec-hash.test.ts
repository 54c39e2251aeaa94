import { describe, expect, it } from 'vitest';
import { canonicalJson, specHash } from '../../../src/spec/spec-hash.js';
import type { WorkspaceSpec } from '../../../src/spec/workspace-spec.js';

const base: WorkspaceSpec = {
  image: 'example/dev:1',
  username: 'coder',
  env: { A: '1', B: '2' },
  resources: { cpus: 2, memoryBytes: 1 << 30 },
  mounts: [{ source: '/srv/shared/a', target: '/a', readOnly: true }],
};

describe('specHash', () => {
  it('is sha256 hex', () => {
    expect(specHash(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores key order at every level', () => {
    const reordered: WorkspaceSpec = {
      mounts: [{ readOnly: true, target: '/a', source: '/srv/shared/a' }],
      resources: { memoryBytes: 1 << 30, cpus: 2 },
      env: { B: '2', A: '1' },
      username: 'coder',
      image: 'example/dev:1',
    };
    expect(specHash(reordered)).toBe(specHash(base));
  });

  it.each<[string, Partial<WorkspaceSpec>]>([
    ['bootstrap.script', { bootstrap: { script: '#!/bin/sh\necho hi\n' } }],
    ['pullAuth', { pullAuth: { dockerConfigJson: '{"auths":{}}' } }],
    ['restartPolicy', { restartPolicy: 'always' }],
    ['pullPolicy', { pullPolicy: 'never' }],
  ])('does not change with %s', (_field, extra) => {
    expect(specHash({ ...base, ...extra })).toBe(specHash(base));
  });

  it.each<[string, Partial<WorkspaceSpec>]>([
    ['image', { image: 'example/dev:2' }],
    ['env', { env: { A: '1', B: '3' } }],
    ['an added mount', { mounts: [...(base.mounts ?? []), { source: '/srv/shared/b', target: '/b' }] }],
    ['cvm', { cvm: false }],
    ['devices', { devices: { fuse: true } }],
  ])('changes with %s', (_field, change) => {
    expect(specHash({ ...base, ...change })).not.toBe(specHash(base));
  });
});

it('changes with mount order (later mounts cover earlier ones)', () => {
  const a = { source: '/srv/shared/a', target: '/a' };
  const b = { source: '/srv/shared/b', target: '/a/b' };
  expect(specHash({ image: 'x', mounts: [a, b] })).not.toBe(specHash({ image: 'x', mounts: [b, a] }));
});

describe('canonicalJson', () => {
  it('sorts keys, keeps array order, drops undefined members', () => {
    expect(canonicalJson({ b: [2, 1], a: { d: undefined, c: 'x' } })).toBe('{"a":{"c":"x"},"b":[2,1]}');
  });

  it('writes null as null, not as an object', () => {
    expect(canonicalJson({ a: null, b: [null] })).toBe('{"a":null,"b":[null]}');
  });
});
