import { beforeEach, describe, expect, it } from 'vitest';
import { PullError } from '../../../src/engine/engine-errors.js';
import type { PullOptions } from '../../../src/engine/types.js';
import { checkPullFields, ensureImage, type ImageSource, type PullLog } from '../../../src/image/ensure-image.js';
import { ImagePuller } from '../../../src/image/image-puller.js';
import { parseDockerConfigJson, type RegistryCredentials } from '../../../src/image/registry-auth.js';
import { FakeEngine } from '../../support/fake-engine.js';

describe('checkPullFields', () => {
  it('accepts a valid reference and pull secret', () => {
    expect(() => {
      checkPullFields({ image: '127.0.0.1:5000/team/dev:1', pullAuth: { dockerConfigJson: '{"auths":{"r.io":{"auth":"dTpw"}}}' } });
    }).not.toThrow();
  });
  it.each([
    [{ image: 'Bad/Name' }, 'image'],
    [{ image: 'ok', pullAuth: { dockerConfigJson: '{"auths":{"r.io":{}}}' } }, 'pullAuth.dockerConfigJson'],
  ])('rejects %j as InvalidSpec at %s', (spec, path) => {
    expect(() => {
      checkPullFields(spec);
    }).toThrow(expect.objectContaining({ code: 'InvalidSpec', path }) as Error);
  });
});

/** The engine's pull options of each pull, and every entry the pull wrote to the build log. */
describe('ensureImage', () => {
  const FAST_RETRY = { attempts: 2, baseMs: 1, maxMs: 1 };
  let engine: FakeEngine;
  let logged: { message: string; data?: Record<string, unknown> }[];
  let node: RegistryCredentials | undefined;
  beforeEach(() => {
    engine = new FakeEngine();
    logged = [];
    node = undefined;
  });

  const source = (): ImageSource => ({ engine, puller: new ImagePuller(engine, FAST_RETRY), nodeCredentials: () => Promise.resolve(node) });
  const log: PullLog = { append: (_kind, message, data) => logged.push({ message, ...(data && { data }) }) };
  const ensure = (spec: Parameters<typeof ensureImage>[1], forcePull = false) => ensureImage(source(), spec, forcePull, log, new AbortController().signal);
  const pullAuthOf = (): unknown => engine.callsOf('pullImage').map(([, options]) => (options as PullOptions).auth);

  it('uses a present image as it is, with the layers and digest the engine reports', async () => {
    const id = engine.addImage('registry.example/dev:1');
    const inspect = engine.inspectImage.bind(engine);
    engine.inspectImage = async (ref) => {
      const image = await inspect(ref);
      return image && { ...image, repoDigests: [`registry.example/dev@sha256:${'b'.repeat(64)}`], layerDirs: ['/engine/l1'] };
    };
    expect(await ensure({ image: 'registry.example/dev:1' })).toEqual({ id, layerDirs: ['/engine/l1'], digest: `sha256:${'b'.repeat(64)}`, pulledBytes: 0, attempts: 0 });
    expect(engine.callsOf('pullImage')).toEqual([]);
    expect(logged).toEqual([]);
  });

  it('pulls a missing image, logging each attempt, the retry, the progress and the result', async () => {
    engine.registry.add('dev:latest');
    engine.fail('pullImage', new PullError('dev:latest', null, 'dial tcp 10.0.0.1:443: connect: connection refused'));
    const present = await ensure({ image: 'dev' });
    expect(present).toEqual({ id: engine.addImage('dev:latest'), digest: null, pulledBytes: 1000, attempts: 2 });
    expect(logged).toEqual([
      { message: 'pulling dev:latest anonymously' },
      { message: 'attempt 1 of 2', data: { attempt: 1 } },
      { message: 'registry unreachable (dial tcp 10.0.0.1:443: connect: connection refused); retrying in 1 ms', data: { attempt: 1, delayMs: 1 } },
      { message: 'attempt 2 of 2', data: { attempt: 2 } },
      { message: '500/1000 bytes (50%)', data: { done: 500, total: 1000, percent: 50 } },
      { message: '1000/1000 bytes (100%)', data: { done: 1000, total: 1000, percent: 100 } },
      { message: 'pulled dev:latest', data: { imageId: present.id, attempts: 2 } },
    ]);
  });

  it('calls a pull of layers that all exist already 100 %', async () => {
    engine.registry.add('dev:latest');
    const pull = engine.pullImage.bind(engine);
    engine.pullImage = async (ref, options) => {
      options?.onProgress?.({ layer: 'layer1', status: 'Already exists', current: null, total: null });
      await pull(ref, {});
    };
    await ensure({ image: 'dev' });
    expect(logged.map((l) => l.message)).toContain('0/0 bytes (100%)');
  });

  it('pulls a present image again when the policy is always, or when told to', async () => {
    engine.addImage('dev:latest');
    engine.registry.add('dev:latest');
    expect((await ensure({ image: 'dev', pullPolicy: 'always' })).attempts).toBe(1);
    expect((await ensure({ image: 'dev' }, true)).attempts).toBe(1);
    expect((await ensure({ image: 'dev', pullPolicy: 'if-not-present' })).attempts).toBe(0);
    expect(engine.callsOf('pullImage')).toHaveLength(2);
  });

  it('never pulls under the never policy: a present image is used, a missing one fails', async () => {
    engine.registry.add('dev:latest');
    await expect(ensure({ image: 'dev', pullPolicy: 'never' })).rejects.toThrow(
      expect.objectContaining({ reason: 'ImageNotFound', message: 'dev:latest is not present in the engine and pullPolicy is never' }) as Error,
    );
    engine.addImage('dev:latest');
    expect((await ensure({ image: 'dev', pullPolicy: 'never' }, true)).attempts).toBe(0);
    expect(engine.callsOf('pullImage')).toEqual([]);
  });

  it('fails when the engine does not list the image it just pulled', async () => {
    engine.registry.add('dev:latest');
    engine.after('pullImage', () => {
      engine.images.clear();
    });
    await expect(ensure({ image: 'dev' })).rejects.toThrow(expect.objectContaining({ reason: 'ImageNotFound', message: 'dev:latest was pulled but the engine does not list it' }) as Error);
  });

  it("pulls with the spec's credentials for the registry, before the node's", async () => {
    engine.registry.add('registry.example/dev:1');
    node = parseDockerConfigJson('{"auths":{"registry.example":{"auth":"bm9kZTpzZWNyZXQ="}}}');
    await ensure({ image: 'registry.example/dev:1', pullAuth: { dockerConfigJson: '{"auths":{"registry.example":{"auth":"dTpw"}}}' } });
    await ensure({ image: 'registry.example/dev:1', pullPolicy: 'always' });
    expect(pullAuthOf()).toEqual([
      { username: 'u', password: 'p', serveraddress: 'registry.example' },
      { username: 'node', password: 'secret', serveraddress: 'registry.example' },
    ]);
    expect(logged.filter((l) => l.message.startsWith('pulling'))).toEqual([
      { message: 'pulling registry.example/dev:1 with the credentials for registry.example' },
      { message: 'pulling registry.example/dev:1 with the credentials for registry.example' },
    ]);
  });

  it('pulls anonymously from a registry no credentials name', async () => {
    engine.registry.add('other.example/dev:1');
    node = parseDockerConfigJson('{"auths":{"registry.example":{"auth":"bm9kZTpzZWNyZXQ="}}}');
    await ensure({ image: 'other.example/dev:1' });
    expect(pullAuthOf()).toEqual([undefined]);
    expect(logged[0]).toEqual({ message: 'pulling other.example/dev:1 anonymously' });
  });
});
