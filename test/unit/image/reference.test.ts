import { describe, expect, it } from 'vitest';
import { digestFor, InvalidReferenceError, parseImageReference, recordedDigest, withDefaultTag } from '../../../src/image/reference.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', null, null, 'busybox:latest'],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', null, 'busybox:1.36'],
    ['team/dev', 'docker.io', 'team/dev', null, null, 'team/dev:latest'],
    ['docker.io/team/dev:2', 'docker.io', 'team/dev', '2', null, 'docker.io/team/dev:2'],
    ['index.docker.io/team/dev', 'docker.io', 'team/dev', null, null, 'index.docker.io/team/dev:latest'],
    ['127.0.0.1:5000/team/dev', '127.0.0.1:5000', 'team/dev', null, null, '127.0.0.1:5000/team/dev:latest'],
    ['127.0.0.1:5000/team/dev:2', '127.0.0.1:5000', 'team/dev', '2', null, '127.0.0.1:5000/team/dev:2'],
    ['localhost/dev', 'localhost', 'dev', null, null, 'localhost/dev:latest'],
    ['Registry.Example.com/a/b-c_d.e', 'registry.example.com', 'a/b-c_d.e', null, null, 'Registry.Example.com/a/b-c_d.e:latest'],
    [`x@${DIGEST}`, 'docker.io', 'library/x', null, DIGEST, `x@${DIGEST}`],
    // A digest wins over a tag, as with the Docker CLI.
    [`r.io:443/x:1@${DIGEST}`, 'r.io:443', 'x', '1', DIGEST, `r.io:443/x@${DIGEST}`],
  ])('%s', (ref, registry, repository, tag, digest, pullRef) => {
    expect(parseImageReference(ref)).toMatchObject({ registry, repository, tag, digest, pullRef });
  });

  it.each([
    ['', 'empty'],
    [' busybox', 'white space'],
    ['Busybox', 'bad name component'],
    ['team//dev', 'bad name component'],
    ['dev:', 'bad tag'],
    ['dev:-x', 'bad tag'],
    [`dev:${'t'.repeat(129)}`, 'bad tag'],
    ['dev@sha256:abc', 'sha256'],
    [`dev@sha256:${'AB'.repeat(32)}`, 'sha256'],
    ['dev@md5', 'bad digest'],
    ['-bad.io/dev', 'bad registry host'],
    ['host:notaport/dev', 'bad registry host'],
    ['a'.repeat(256), 'longer than 255'],
  ])('rejects %j', (ref, why) => {
    expect(() => parseImageReference(ref)).toThrow(InvalidReferenceError);
    expect(() => parseImageReference(ref)).toThrow(why);
  });

  it('accepts a name of exactly 255 characters and refuses 256, with or without a tag', () => {
    const name255 = `r.io/${'a'.repeat(250)}`;
    expect(parseImageReference(name255).repository).toBe('a'.repeat(250));
    expect(parseImageReference(`${name255}:1`).tag).toBe('1');
    expect(() => parseImageReference(`${name255}a`)).toThrow('the name is longer than 255 characters');
    expect(() => parseImageReference(`${name255}a:1`)).toThrow('the name is longer than 255 characters');
  });
});

describe('withDefaultTag', () => {
  it.each([
    ['busybox', 'busybox:latest'],
    ['busybox:1', 'busybox:1'],
    ['127.0.0.1:5000/team/dev', '127.0.0.1:5000/team/dev:latest'],
    ['127.0.0.1:5000/team/dev:2', '127.0.0.1:5000/team/dev:2'],
    ['x@sha256:abc', 'x@sha256:abc'],
  ])('%s → %s', (ref, want) => {
    expect(withDefaultTag(ref)).toBe(want);
  });
});

describe('digestFor', () => {
  it('picks the digest of the named repository', () => {
    const digests = ['other/x@sha256:111', '127.0.0.1:5000/team/dev@sha256:222'];
    expect(digestFor('127.0.0.1:5000/team/dev:2', digests)).toBe('sha256:222');
    expect(digestFor('local/only:1', [])).toBeNull();
  });
});

describe('recordedDigest', () => {
  const pinned = `sha256:${'1'.repeat(64)}`;
  it('is the pinned digest of a digest reference, else the repository digest', () => {
    expect(recordedDigest(`r.io/x:1@${pinned}`, ['r.io/x@sha256:other'])).toBe(pinned);
    expect(recordedDigest('r.io/x:1', ['q.io/x@sha256:q', 'r.io/x@sha256:r'])).toBe('sha256:r');
    expect(recordedDigest('x', ['x@sha256:hub'])).toBe('sha256:hub');
  });
});

describe('parseImageReference: edges', () => {
  const messageOf = (ref: string): string => {
    try {
      parseImageReference(ref);
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidReferenceError);
      expect((err as Error).name).toBe('InvalidReferenceError');
      return (err as Error).message;
    }
    throw new Error(`${ref} was accepted`);
  };

  it('quotes a long reference only up to 200 characters in its message', () => {
    expect(messageOf(`Dev/${'a'.repeat(196)}`)).toBe(`"Dev/${'a'.repeat(196)}" is not a valid image reference: bad name component "Dev" (lower-case letters, digits and . _ -)`);
    expect(messageOf(`Dev/${'a'.repeat(197)}`)).toBe(`"Dev/${'a'.repeat(196)}…" is not a valid image reference: bad name component "Dev" (lower-case letters, digits and . _ -)`);
  });

  it('says what is wrong with a sha256 digest that is not 64 lower-case hex digits, and takes other algorithms as they are', () => {
    expect(messageOf(`dev@sha256:${'a'.repeat(65)}`)).toBe(`"dev@sha256:${'a'.repeat(65)}" is not a valid image reference: a sha256 digest is 64 lower-case hex digits`);
    expect(parseImageReference(`dev@sha512:${'A'.repeat(128)}`).digest).toBe(`sha512:${'A'.repeat(128)}`);
  });

  it('reads a reference that starts with @ as an empty name with a digest', () => {
    expect(messageOf(`@${DIGEST}`)).toBe(`"@${DIGEST}" is not a valid image reference: bad name component "" (lower-case letters, digits and . _ -)`);
  });

  it('takes a single component as a Docker Hub name, even one that looks like a host', () => {
    expect(parseImageReference('localhost')).toMatchObject({ registry: 'docker.io', repository: 'library/localhost', pullRef: 'localhost:latest' });
    expect(parseImageReference('a.b')).toMatchObject({ registry: 'docker.io', repository: 'library/a.b' });
  });

  it('reads registry.hub.docker.com as Docker Hub', () => {
    expect(parseImageReference('registry.hub.docker.com/team/dev').registry).toBe('docker.io');
  });
});

describe('digestFor: the repository of a tagged or pinned reference', () => {
  it('strips a tag of several characters and a digest before matching', () => {
    expect(digestFor('r.io/x:12', ['q.io/x@sha256:q', 'r.io/x@sha256:r'])).toBe('sha256:r');
    expect(digestFor('x@sha256:abc', ['y@sha256:1', 'x@sha256:2'])).toBe('sha256:2');
  });
});
