import { describe, expect, it } from 'vitest';
import { parseMemory, parseMounts, readEnvbox } from '../../../src/config/envbox.js';
import { loadConfig } from '../../../src/config/load.js';
import { configErrorOf } from './helpers.js';

const IMAGE = { CODER_INNER_IMAGE: 'registry.example.com/dev:1' };
const specOf = (env: Record<string, string>) => readEnvbox({ ...IMAGE, ...env }).spec;
const messageOf = (env: Record<string, string>) => configErrorOf(() => readEnvbox({ ...IMAGE, ...env })).message;

describe('readEnvbox: mapping', () => {
  it('declares nothing without CODER_INNER_IMAGE, whatever else is set', () => {
    expect(readEnvbox({ CODER_MOUNTS: '/a:/b', CODER_AGENT_TOKEN: 't', CODER_INNER_USERNAME: 'coder' })).toStrictEqual({});
    expect(loadConfig([], { CODER_INNER_IMAGE: '' }).bootWorkspace).toBeUndefined();
  });

  it('maps every variable to its spec field', () => {
    const spec = specOf({
      CODER_INNER_USERNAME: 'coder',
      CODER_INNER_HOSTNAME: 'dev-1',
      CODER_INNER_WORK_DIR: '/home/coder',
      CODER_INNER_ENVS: 'FOO',
      FOO: 'bar',
      CODER_MOUNTS: '/var/lib/coder/home:/home/coder,/etc/certs:/certs:ro',
      CODER_ADD_FUSE: 'true',
      CODER_ADD_TUN: 'false',
      CODER_ADD_GPU: 'true',
      CODER_CPUS: '1.5',
      CODER_MEMORY: '4Gi',
      CODER_BOOTSTRAP_SCRIPT: '#!/bin/sh\nexec coder agent\n',
      CODER_AGENT_TOKEN: 'agent-token-1',
    });
    expect(spec).toEqual({
      image: 'registry.example.com/dev:1',
      username: 'coder',
      hostname: 'dev-1',
      workdir: '/home/coder',
      env: { FOO: 'bar', CODER_AGENT_TOKEN: 'agent-token-1' },
      mounts: [
        { source: '/var/lib/coder/home', target: '/home/coder' },
        { source: '/etc/certs', target: '/certs', readOnly: true },
      ],
      devices: { fuse: true, tun: false },
      gpus: { enabled: true },
      resources: { cpus: 1.5, memoryBytes: 4294967296 },
      bootstrap: { script: '#!/bin/sh\nexec coder agent\n' },
    });
  });

  it('puts the boot workspace into the Config under --boot-workspace-id', () => {
    expect(loadConfig([], IMAGE).bootWorkspace).toEqual({ id: 'workspace', spec: { image: IMAGE.CODER_INNER_IMAGE } });
    expect(loadConfig(['--boot-workspace-id', 'ws-7'], IMAGE).bootWorkspace?.id).toBe('ws-7');
  });

  it('leaves out devices and resources that no variable gives', () => {
    expect(specOf({ CODER_ADD_TUN: 'true' })?.devices).toStrictEqual({ tun: true });
    expect(specOf({ CODER_ADD_FUSE: 'true' })?.devices).toStrictEqual({ fuse: true });
    expect(specOf({ CODER_CPUS: '2' })?.resources).toStrictEqual({ cpus: 2 });
    expect(specOf({ CODER_MEMORY: '1Gi' })?.resources).toStrictEqual({ memoryBytes: 1073741824 });
    expect(specOf({ CODER_MOUNTS: ' , ' })).toStrictEqual({ image: IMAGE.CODER_INNER_IMAGE });
  });

  it('treats empty variables as unset', () => {
    expect(specOf({ CODER_MOUNTS: '', CODER_CPUS: '', CODER_ADD_FUSE: '', CODER_INNER_USERNAME: '' })).toEqual({ image: IMAGE.CODER_INNER_IMAGE });
  });
});

describe('CODER_INNER_ENVS', () => {
  const daemonEnv = {
    CODER_AGENT_URL: 'https://coder.example.com',
    CODER_INNER_HOSTNAME: 'dev',
    CODER_MOUNTS: '/a:/b',
    CODER_IMAGE_PULL_SECRET: '{"auths":{}}',
    CODER_USR_LIB_DIR: '/usr/lib',
    CVM_LISTEN: '0.0.0.0:7070',
    CODER_INNER_EXTRA: 'not in the table, still a control variable',
    DOCKER_HOST: 'unix:///var/run/docker.sock',
    FOO: 'foo',
    FOOBAR: 'foobar',
    BAR: 'bar',
  };
  it.each([
    ['CODER_*,FOO', { CODER_AGENT_URL: 'https://coder.example.com', FOO: 'foo' }],
    ['FOO*', { FOO: 'foo', FOOBAR: 'foobar' }],
    [' FOO , BAR ,', { FOO: 'foo', BAR: 'bar' }],
    ['*', { CODER_AGENT_URL: 'https://coder.example.com', FOO: 'foo', FOOBAR: 'foobar', BAR: 'bar' }],
    ['MISSING,FOO', { FOO: 'foo' }],
    ['CODER_MOUNTS,CVM_LISTEN,DOCKER_HOST,CODER_INNER_HOSTNAME', undefined],
  ])('%s copies %j and never a control variable', (patterns, expected) => {
    expect(specOf({ ...daemonEnv, CODER_INNER_ENVS: patterns })?.env).toEqual(expected);
  });

  it('copies in name order, and skips a variable that has no value', () => {
    const env = specOf({ CODER_INNER_ENVS: 'Z*,A*', ZED: 'z', ALPHA: 'a', AB: 'b' })?.env;
    expect(Object.keys(env ?? {})).toEqual(['AB', 'ALPHA', 'ZED']);
    expect(readEnvbox({ ...IMAGE, CODER_INNER_ENVS: 'FOO,BAR', FOO: undefined, BAR: 'bar' }).spec?.env).toStrictEqual({ BAR: 'bar' });
  });

  it('adds CODER_AGENT_TOKEN even when no pattern names it', () => {
    expect(specOf({ CODER_INNER_ENVS: 'FOO', FOO: '1', CODER_AGENT_TOKEN: 'tok' })?.env).toEqual({ FOO: '1', CODER_AGENT_TOKEN: 'tok' });
  });

  it.each([
    ['FOO-BAR', 'CODER_INNER_ENVS: "FOO-BAR" has "FOO-BAR", which is not a variable name or a PREFIX* pattern'],
    ['*FOO', 'CODER_INNER_ENVS: "*FOO" has "*FOO", which is not a variable name or a PREFIX* pattern'],
    ['A,F*O', 'CODER_INNER_ENVS: "A,F*O" has "F*O", which is not a variable name or a PREFIX* pattern'],
  ])('refuses the pattern %s', (patterns, message) => {
    expect(messageOf({ CODER_INNER_ENVS: patterns })).toBe(message);
  });

  it('refuses a matched variable whose name a workspace cannot hold', () => {
    expect(messageOf({ CODER_INNER_ENVS: 'A*', 'A.B': 'x' })).toBe(
      'CODER_INNER_ENVS: matches "A.B", which is not a valid variable name for a workspace',
    );
  });

  it('refuses a matched value with a newline without quoting it', () => {
    const message = messageOf({ CODER_INNER_ENVS: 'MY_KEY', MY_KEY: 'line1-hunter2\nline2' });
    expect(message).toBe('CODER_INNER_ENVS: matches MY_KEY, whose value (redacted) contains a newline or NUL');
    expect(message).not.toContain('hunter2');
  });
});

describe('CODER_MOUNTS', () => {
  it.each([
    ['/a:/b', [{ source: '/a', target: '/b' }]],
    ['/a:/b:ro', [{ source: '/a', target: '/b', readOnly: true }]],
    ['/a:/b:rw', [{ source: '/a', target: '/b' }]],
    [' /a:/b , /c:/d:ro ,', [{ source: '/a', target: '/b' }, { source: '/c', target: '/d', readOnly: true }]],
  ])('parses %s', (raw, expected) => {
    expect(parseMounts(raw)).toEqual(expected);
    expect(specOf({ CODER_MOUNTS: raw })?.mounts).toEqual(expected);
  });

  it.each([
    ['/a', 'CODER_MOUNTS: "/a" has the entry "/a", which is not SRC:DST[:ro|rw]'],
    [':/b', 'CODER_MOUNTS: ":/b" has the entry ":/b", which is not SRC:DST[:ro|rw]'],
    ['/a:/b:ro:x', 'CODER_MOUNTS: "/a:/b:ro:x" has the entry "/a:/b:ro:x", which is not SRC:DST[:ro|rw]'],
    ['/a:/b:xx', 'CODER_MOUNTS: "/a:/b:xx" has the entry "/a:/b:xx" with the unknown option "xx" (allowed: ro, rw)'],
    ['/a:/b,c:/d', 'CODER_MOUNTS: "/a:/b,c:/d" has the entry "c:/d", whose "c" is not an absolute path'],
    ['/a:d', 'CODER_MOUNTS: "/a:d" has the entry "/a:d", whose "d" is not an absolute path'],
    ['/a/../b:/c', 'CODER_MOUNTS: "/a/../b:/c" is invalid: mounts[0].source: /a/../b is not a normalised absolute path'],
    ['/x:/y,/a:/', 'CODER_MOUNTS: "/x:/y,/a:/" is invalid: mounts[1].target: must not be /'],
  ])('refuses %s', (raw, message) => {
    expect(messageOf({ CODER_MOUNTS: raw })).toBe(message);
  });
});

describe('CODER_MEMORY', () => {
  it.each([
    ['4294967296', 4294967296],
    ['4Gi', 4294967296],
    ['4G', 4_000_000_000],
    ['512Mi', 536870912],
    ['8000k', 8_000_000],
    ['1.5Gi', 1610612736],
    ['0.5Ti', 549755813888],
    ['6.25Mi', 6553600],
    ['16M', 16_000_000],
  ])('%s is %d bytes', (raw, bytes) => {
    expect(parseMemory(raw)).toBe(bytes);
    expect(specOf({ CODER_MEMORY: raw })?.resources).toEqual({ memoryBytes: bytes });
  });

  it('is exact up to the largest safe integer and refuses one byte more', () => {
    expect(parseMemory('0.25Ki')).toBe(256);
    expect(parseMemory('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseMemory('9007199254740992')).toThrow('is too large');
  });

  const SUFFIXES = 'is not a byte count: an integer, or a number with k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024)';
  it.each([
    ['4g', SUFFIXES],
    ['512m', SUFFIXES],
    ['4GB', SUFFIXES],
    ['-1', SUFFIXES],
    ['1e9', SUFFIXES],
    [' 4Gi', SUFFIXES],
    ['lots', SUFFIXES],
    ['0.3Ki', 'is not a whole number of bytes'],
    ['1.5', 'is not a whole number of bytes'],
    ['99999999Ti', 'is too large'],
    ['1Ki', 'is below the minimum of 6Mi (6291456 bytes)'],
  ])('refuses %j', (raw, allowed) => {
    expect(messageOf({ CODER_MEMORY: raw })).toBe(`CODER_MEMORY: ${JSON.stringify(raw)} ${allowed}`);
  });
});

describe('other variables', () => {
  it.each([['2', 2], ['0.5', 0.5], ['16', 16], ['1.25', 1.25]])('CODER_CPUS %s', (raw, cpus) => {
    expect(specOf({ CODER_CPUS: raw })?.resources).toEqual({ cpus });
  });

  it.each([
    [{ CODER_CPUS: '0' }, 'CODER_CPUS: "0" is not a positive number of CPUs (such as 2 or 0.5)'],
    [{ CODER_CPUS: '500m' }, 'CODER_CPUS: "500m" is not a positive number of CPUs (such as 2 or 0.5)'],
    [{ CODER_CPUS: '-1' }, 'CODER_CPUS: "-1" is not a positive number of CPUs (such as 2 or 0.5)'],
    [{ CODER_CPUS: '+2' }, 'CODER_CPUS: "+2" is not a positive number of CPUs (such as 2 or 0.5)'],
    [{ CODER_CPUS: '1e2' }, 'CODER_CPUS: "1e2" is not a positive number of CPUs (such as 2 or 0.5)'],
    [{ CODER_CPUS: '2.' }, 'CODER_CPUS: "2." is not a positive number of CPUs (such as 2 or 0.5)'],
    [{ CODER_CPUS: '2000' }, 'CODER_CPUS: "2000" is more than 1024 CPUs'],
    [{ CODER_ADD_FUSE: 'yes' }, 'CODER_ADD_FUSE: "yes" is not true or false'],
    [{ CODER_ADD_TUN: '1' }, 'CODER_ADD_TUN: "1" is not true or false'],
    [{ CODER_ADD_GPU: 'TRUE' }, 'CODER_ADD_GPU: "TRUE" is not true or false'],
    [{ CODER_INNER_HOSTNAME: 'bad_host' }, 'CODER_INNER_HOSTNAME: "bad_host" is not an RFC 1123 host name'],
    [{ CODER_INNER_USERNAME: 'Root' }, 'CODER_INNER_USERNAME: "Root" is not a POSIX user name (a-z or _, then a-z, 0-9, _ or -; at most 32)'],
    [{ CODER_INNER_WORK_DIR: 'home' }, 'CODER_INNER_WORK_DIR: "home" is not a normalised absolute path'],
    [{ CODER_INNER_WORK_DIR: '/home/../x' }, 'CODER_INNER_WORK_DIR: "/home/../x" is not a normalised absolute path'],
  ])('%j → %s', (env, message) => {
    expect(messageOf(env)).toBe(message);
  });

  it('refuses an image name over 1024 characters, quoting only its start', () => {
    expect(messageOf({ CODER_INNER_IMAGE: 'x'.repeat(1025) })).toBe(`CODER_INNER_IMAGE: "${'x'.repeat(200)}…" must be 1-1024 characters`);
  });
});

describe('secrets never appear in messages', () => {
  const SECRET = 'hunter2-SeCrEt';
  it.each([
    [{ CODER_AGENT_TOKEN: `${SECRET}\nmore` }, 'CODER_AGENT_TOKEN: (redacted) must be one line without NUL'],
    [{ CODER_BOOTSTRAP_SCRIPT: SECRET.repeat(80_000) }, 'CODER_BOOTSTRAP_SCRIPT: (redacted) must be at most 1 MiB'],
    [{ CODER_IMAGE_PULL_SECRET: `{"auths": ${SECRET}` }, 'CODER_IMAGE_PULL_SECRET: (redacted) is not JSON; expected a .dockerconfigjson with an "auths" object'],
    [{ CODER_IMAGE_PULL_SECRET: `{"${SECRET}":{}}` }, 'CODER_IMAGE_PULL_SECRET: (redacted) has no "auths" object; expected a .dockerconfigjson'],
    [{ CODER_IMAGE_PULL_SECRET: `{"auths":["${SECRET}"]}` }, 'CODER_IMAGE_PULL_SECRET: (redacted) has no "auths" object; expected a .dockerconfigjson'],
    [{ CODER_IMAGE_PULL_SECRET: `{"auths":null,"${SECRET}":1}` }, 'CODER_IMAGE_PULL_SECRET: (redacted) has no "auths" object; expected a .dockerconfigjson'],
    [{ CODER_IMAGE_PULL_SECRET: 'null', CODER_AGENT_TOKEN: SECRET }, 'CODER_IMAGE_PULL_SECRET: (redacted) has no "auths" object; expected a .dockerconfigjson'],
    [{ CODER_IMAGE_PULL_SECRET: `"${SECRET}"` }, 'CODER_IMAGE_PULL_SECRET: (redacted) has no "auths" object; expected a .dockerconfigjson'],
  ])('%#: %s', (env, message) => {
    const got = messageOf(env);
    expect(got).toBe(message);
    expect(got).not.toContain(SECRET);
  });

  it('keeps a valid pull secret as written, with or without a boot workspace', () => {
    const secret = `{"auths":{"registry.example.com":{"auth":"${Buffer.from('u:p').toString('base64')}"}}}`;
    expect(readEnvbox({ CODER_IMAGE_PULL_SECRET: secret })).toEqual({ pullSecret: secret });
    expect(loadConfig([], { ...IMAGE, CODER_IMAGE_PULL_SECRET: secret }).bootPullSecret).toBe(secret);
  });
});
