/** What parseWorkspaceSpec says when it refuses, and what it lets through at the edges (workspace-spec.ts). */
import { describe, expect, it } from 'vitest';
import { describeSchemaErrors, parseWorkspaceSpec } from '../../../src/spec/workspace-spec.js';

describe('parseWorkspaceSpec: messages', () => {
  it.each([
    [{ image: 'busy box' }, 'image: is not an image reference: only printable ASCII without spaces'],
    [{ image: 'a', resources: { memoryBytes: 2 ** 53 + 2 } }, 'resources.memoryBytes: 9007199254740994 is absurd'],
    [{ image: 'a', mounts: [{ source: '/a', target: '/x/../y' }] }, 'mounts[0].target: /x/../y is not a normalised absolute path'],
    [{ image: 'a', gpus: { enabled: true, libraryDir: '/opt/../lib' } }, 'gpus.libraryDir: /opt/../lib must be a normalised absolute path other than /'],
    [{ image: 'a', workdir: '/home/./coder' }, 'workdir: /home/./coder is not a normalised absolute path'],
    [{ image: 'a', home: { path: '/home//coder' } }, 'home.path: /home//coder must be a normalised absolute path other than /'],
    [{ image: 'a', home: { path: '/' } }, 'home.path: / must be a normalised absolute path other than /'],
    [{ image: 'a', extra: 1, more: 2 }, 'extra: unknown field extra, more'],
  ])('%j: %s', (input, message) => {
    expect(() => parseWorkspaceSpec(input)).toThrow(message);
  });

  it('accepts a normalised gpus.libraryDir and home.path', () => {
    const spec = { image: 'a', gpus: { enabled: true, libraryDir: '/opt/nvidia/lib' }, home: { path: '/home/coder' } };
    expect(parseWorkspaceSpec(structuredClone(spec))).toEqual(spec);
  });
});

describe('describeSchemaErrors', () => {
  it('answers the root and a generic message when there is no error to quote', () => {
    expect(describeSchemaErrors([])).toEqual({ path: 'spec', message: 'does not match the schema' });
    expect(describeSchemaErrors([{ keyword: 'type', instancePath: '', params: {} }], 'body')).toEqual({ path: 'body', message: 'does not match the schema' });
  });

  it('turns the instance path into a dotted path', () => {
    expect(describeSchemaErrors([{ keyword: 'type', instancePath: '/mounts/0/source', params: {}, message: 'must be string' }])).toEqual({ path: 'mounts.0.source', message: 'must be string' });
  });

  it('names no field when an additionalProperties error lists none', () => {
    expect(describeSchemaErrors([{ keyword: 'additionalProperties', instancePath: '/env', params: {} }])).toEqual({ path: 'env', message: 'unknown field ' });
  });
});
