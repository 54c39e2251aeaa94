import { describe, expect, it } from 'vitest';
import { credentialsFor, InvalidDockerConfigError, parseDockerConfigJson, registryHostOfKey } from '../../../src/image/registry-auth.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const config = (auths: Record<string, unknown>): string => JSON.stringify({ auths });

describe('registryHostOfKey', () => {
  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://Registry.Example.com:5000/v2/', 'registry.example.com:5000'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['http://127.0.0.1:5000', '127.0.0.1:5000'],
  ])('%s → %s', (key, host) => {
    expect(registryHostOfKey(key)).toBe(host);
  });
});

describe('parseDockerConfigJson and credentialsFor', () => {
  it('reads the three credential forms', () => {
    const creds = parseDockerConfigJson(
      config({
        'https://a.io/v1/': { auth: b64('alice:pa:ss') },
        'b.io:5000': { username: 'bob', password: 'pw' },
        'c.io': { identitytoken: 'tok' },
      }),
    );
    expect(credentialsFor('a.io', creds)).toEqual({ username: 'alice', password: 'pa:ss', serveraddress: 'a.io' });
    expect(credentialsFor('b.io:5000', creds)).toEqual({ username: 'bob', password: 'pw', serveraddress: 'b.io:5000' });
    expect(credentialsFor('c.io', creds)).toEqual({ identitytoken: 'tok', serveraddress: 'c.io' });
  });

  it('matches Docker Hub under any of its spellings', () => {
    const creds = parseDockerConfigJson(config({ 'https://index.docker.io/v1/': { auth: b64('u:p') } }));
    expect(credentialsFor('docker.io', creds)).toEqual({ username: 'u', password: 'p', serveraddress: 'https://index.docker.io/v1/' });
  });

  it('never hands one host credentials for another: ports, sub-domains and Hub are distinct', () => {
    const creds = parseDockerConfigJson(config({ 'r.io:5000': { auth: b64('u:p') } }));
    for (const other of ['r.io', 'r.io:5001', 'x.r.io:5000', 'docker.io', '127.0.0.1:5000']) {
      expect(credentialsFor(other, creds)).toBeUndefined();
    }
  });

  it('prefers the first source that has the host', () => {
    const spec = parseDockerConfigJson(config({ 'r.io': { auth: b64('spec:1') } }));
    const node = parseDockerConfigJson(config({ 'r.io': { auth: b64('node:2') }, 'q.io': { auth: b64('node:3') } }));
    expect(credentialsFor('r.io', spec, node)?.username).toBe('spec');
    expect(credentialsFor('q.io', spec, node)?.username).toBe('node');
    expect(credentialsFor('z.io', undefined, node)).toBeUndefined();
  });

  it.each([
    ['not json {', 'not JSON'],
    ['{"auths":[]}', 'no "auths" object'],
    [config({ 'r.io': 'x' }), 'is not an object'],
    [config({ 'r.io': { auth: '***' } }), 'not base64'],
    [config({ 'r.io': { auth: b64('nocolon') } }), 'user:password'],
    [config({ 'r.io': { username: 'u' } }), 'has none of'],
    [config({ 'r.io': { username: 5, password: 'p' } }), 'not a string'],
  ])('rejects %s without quoting it', (text, why) => {
    expect(() => parseDockerConfigJson(text)).toThrow(InvalidDockerConfigError);
    expect(() => parseDockerConfigJson(text)).toThrow(why);
    try {
      parseDockerConfigJson(text);
    } catch (err) {
      expect((err as Error).message).not.toContain(text);
    }
  });

  it('refuses an auth of ":password" (an empty user name), which no registry takes', () => {
    expect(() => parseDockerConfigJson(config({ 'r.io': { auth: b64(':password') } }))).toThrow('auths["r.io"].auth is not base64 of user:password');
    expect(parseDockerConfigJson(config({ 'r.io': { auth: b64('u:') } })).get('r.io')).toMatchObject({ username: 'u', password: '' });
  });
});

describe('parseDockerConfigJson: edges', () => {
  const messageOf = (text: string): string => {
    try {
      parseDockerConfigJson(text);
    } catch (err) {
      expect((err as Error).name).toBe('InvalidDockerConfigError');
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it.each([
    ['an auth with a character outside base64 first', '*dTpw'],
    ['an auth with a character outside base64 last', 'dTpw*'],
    ['an auth of stars only', '***'],
  ])('refuses %s as not base64', (_, auth) => {
    expect(messageOf(config({ 'r.io': { auth } }))).toBe('not a .dockerconfigjson: auths["r.io"].auth is not base64');
  });

  it('refuses an entry that is an array', () => {
    expect(messageOf(config({ 'r.io': [] }))).toBe('not a .dockerconfigjson: auths["r.io"] is not an object');
  });

  it('refuses a key without a host', () => {
    expect(messageOf(config({ 'https://': { auth: b64('u:p') } }))).toBe('not a .dockerconfigjson: auths has a key without a host');
  });

  it('reads an empty or null field as absent', () => {
    const creds = parseDockerConfigJson(config({ 'r.io': { identitytoken: '', auth: null, username: 'u', password: 'p' } }));
    expect(credentialsFor('r.io', creds)).toEqual({ username: 'u', password: 'p', serveraddress: 'r.io' });
  });

  it('reads a key with blanks around it', () => {
    expect(registryHostOfKey('  r.io:5000  ')).toBe('r.io:5000');
  });
});
