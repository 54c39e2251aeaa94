/**
 * The value parsers behind every flag, variable and file key, called directly: what each accepts at its edges and
 * what it refuses (load.test.ts covers how their messages reach the user).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, engineHostRootFor, isSysboxRuntime } from '../../../src/config/schema.js';
import {
  BadValue,
  choiceParser,
  isLoopbackHost,
  parseAbsolutePath,
  parseBoolean,
  parseEngineName,
  parseEngineUrl,
  parseInterfaceList,
  parseListen,
  parsePathList,
  parsePercent,
  parseSeconds,
  parseTlsVerify,
  shown,
  splitList,
} from '../../../src/config/values.js';

/** The predicate of the BadValue that `parse(raw)` throws. */
function refusal(parse: (raw: string) => unknown, raw: string): string {
  try {
    parse(raw);
  } catch (e) {
    if (e instanceof BadValue) return e.predicate;
    throw e;
  }
  throw new Error(`${JSON.stringify(raw)} was accepted`);
}

describe('shown', () => {
  it('quotes a string of up to 200 characters whole and cuts a longer one at 200', () => {
    expect(shown('x'.repeat(200))).toBe(JSON.stringify('x'.repeat(200)));
    expect(shown('x'.repeat(201))).toBe(JSON.stringify(`${'x'.repeat(200)}…`));
  });

  it('writes other values as JSON, cut at 200 characters, and undefined as undefined', () => {
    expect(shown(['/a', 3])).toBe('["/a",3]');
    expect(shown(null)).toBe('null');
    expect(shown(undefined)).toBe('undefined');
    const long = Array.from({ length: 100 }, (_, i) => i);
    expect(JSON.stringify(long).length).toBeGreaterThan(200);
    expect(shown(long)).toBe(`${JSON.stringify(long).slice(0, 200)}…`);
    const exact = { k: 'z'.repeat(192) }; // 200 characters of JSON
    expect(shown(exact)).toBe(JSON.stringify(exact));
  });
});

describe('booleans', () => {
  it('parseBoolean takes exactly true and false', () => {
    expect(parseBoolean('true')).toBe(true);
    expect(parseBoolean('false')).toBe(false);
    for (const raw of ['1', '0', 'True', ' true', '']) expect(refusal(parseBoolean, raw), raw).toBe('is not true or false');
  });

  it('parseTlsVerify also takes 1 and 0, as the Docker tools write them', () => {
    expect([parseTlsVerify('true'), parseTlsVerify('1'), parseTlsVerify('false'), parseTlsVerify('0')]).toEqual([true, true, false, false]);
    expect(refusal(parseTlsVerify, 'yes')).toMatch(/^is not true or false/);
  });
});

describe('isLoopbackHost', () => {
  it.each(['localhost', '::1', '[::1]', '127.0.0.1', '127.10.200.255'])('%s is this machine', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['10.0.0.1', 'x127.0.0.1', '127.0.0.1x', '127.0.0', '1127.0.0.1', 'localhost.example.com', '::2'])('%s is not', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('choiceParser', () => {
  it('returns the choice itself and lists the choices when refusing', () => {
    const parse = choiceParser(['stop', 'keep'] as const);
    expect(parse('keep')).toBe('keep');
    expect(refusal(parse, 'Keep')).toBe('is not one of stop, keep');
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:7070', { host: '127.0.0.1', port: 7070 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    ['[fe80::1]:65535', { host: 'fe80::1', port: 65535 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
    ['A:1', { host: 'A', port: 1 }],
    ['node-1.Example.com:80', { host: 'node-1.Example.com', port: 80 }],
    [`${'a'.repeat(63)}.b:80`, { host: `${'a'.repeat(63)}.b`, port: 80 }],
  ])('%s → %j', (raw, expected) => {
    expect(parseListen(raw)).toEqual(expected);
  });

  const NOT_HOST_PORT = 'is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7070)';
  it.each([
    ['x[::1]:80', NOT_HOST_PORT],
    ['[::1]:80x', NOT_HOST_PORT],
    ['[::1]:', NOT_HOST_PORT],
    ['[::1]:123456', NOT_HOST_PORT],
    ['a:b:80', NOT_HOST_PORT],
    ['host:80x', NOT_HOST_PORT],
    ['host:', NOT_HOST_PORT],
    ['host:123456', NOT_HOST_PORT],
    ['a[b:80', NOT_HOST_PORT],
    ['a]b:80', NOT_HOST_PORT],
    ['host:65536', 'has a port outside 0-65535'],
    ['[::1]:99999', 'has a port outside 0-65535'],
    ['-a:80', 'has a host that is not an IPv4 address or a host name'],
    ['a..b:80', 'has a host that is not an IPv4 address or a host name'],
    [`${'a'.repeat(64)}:80`, 'has a host that is not an IPv4 address or a host name'],
    ['[host]:80', 'has a host that is not an IPv6 address'],
  ])('refuses %s', (raw, predicate) => {
    expect(refusal(parseListen, raw)).toBe(predicate);
  });
});

describe('paths', () => {
  it.each([
    ['/', '/'],
    ['/a', '/a'],
    ['/a/./b/', '/a/b'],
    ['//srv//x/', '/srv/x'],
  ])('parseAbsolutePath %s → %s', (raw, expected) => {
    expect(parseAbsolutePath(raw)).toBe(expected);
  });

  it('parseAbsolutePath refuses a relative path and a NUL', () => {
    expect(refusal(parseAbsolutePath, 'a/')).toBe('is not an absolute path');
    expect(refusal(parseAbsolutePath, '/a\0b')).toBe('contains a NUL character');
  });

  it('splitList trims items and skips empty ones', () => {
    expect(splitList(' a ,, b ,')).toEqual(['a', 'b']);
    expect(splitList('')).toEqual([]);
  });

  it('parsePathList skips empty items and needs at least one path', () => {
    expect(parsePathList('/a,,/b/,')).toEqual(['/a', '/b']);
    expect(refusal(parsePathList, ',')).toBe('is not a comma-separated list of absolute paths');
  });
});

describe('numbers', () => {
  it.each([
    ['0', 0],
    ['25', 25],
    ['0.25', 0.25],
    ['12.75', 12.75],
    ['3600', 3600],
  ])('parseSeconds %s → %d', (raw, seconds) => {
    expect(parseSeconds(raw)).toBe(seconds);
  });

  it.each(['3601', '3600.5', '-1', '+1', '1e3', '1.', '.5', '5 ', ''])('parseSeconds refuses %j', (raw) => {
    expect(refusal(parseSeconds, raw)).toBe('is not a number of seconds from 0 to 3600');
  });

  it.each([
    ['0', 0],
    ['7', 7],
    ['50', 50],
    ['100', 100],
  ])('parsePercent %s → %d', (raw, percent) => {
    expect(parsePercent(raw)).toBe(percent);
  });

  it.each(['101', '-1', '+1', '1e2', '50.5', '0100', ''])('parsePercent refuses %j', (raw) => {
    expect(refusal(parsePercent, raw)).toBe('is not a whole percentage from 0 to 100');
  });
});

describe('names', () => {
  it.each(['runc', 'A', '9', 'sysbox-runc', 'cvm_net.1', 'Z9._-', 'a'.repeat(128)])('parseEngineName accepts %s', (raw) => {
    expect(parseEngineName(raw)).toBe(raw);
  });

  it.each(['', '-runc', '.net', '_net', 'a b', 'a/b', 'a'.repeat(129)])('parseEngineName refuses %j', (raw) => {
    expect(refusal(parseEngineName, raw)).toMatch(/^is not a name of letters, digits/);
  });

  it.each([
    ['docker0', ['docker0']],
    [' docker0 , br-+ ,', ['docker0', 'br-+']],
    ['_x,.y,A-9', ['_x', '.y', 'A-9']],
    ['abcdefghijklmno', ['abcdefghijklmno']],
    ['abcdefghijklmn+', ['abcdefghijklmn+']],
  ])('parseInterfaceList %j → %j', (raw, names) => {
    expect(parseInterfaceList(raw)).toEqual(names);
  });

  it.each(['-docker0', 'docker0!', 'a b', 'br+-', 'abcdefghijklmnop', 'abcdefghijklmno+'])('parseInterfaceList refuses %j, naming it', (name) => {
    expect(refusal(parseInterfaceList, `docker0,${name}`)).toBe(
      `has ${JSON.stringify(name)}, which is not an interface name (1-15 of letters, digits, "_", "." and "-", not first, and a trailing "+" for a prefix)`,
    );
  });

  it('parseInterfaceList needs at least one name', () => {
    expect(refusal(parseInterfaceList, ' , ')).toBe('is not a comma-separated list of interface names');
  });
});

describe('parseEngineUrl', () => {
  it.each(['unix:///run/docker.sock', 'tcp://10.0.0.1:2376', 'tcp://h', 'http://h:2375', 'http://h:2375/', 'https://h:2376'])('keeps %s as written', (raw) => {
    expect(parseEngineUrl(raw)).toBe(raw);
  });

  it.each(['unix:///', 'unix://host/x.sock', 'tcp://', 'tcp://h:1/x', 'http://h/x', 'https://h/x', 'ssh://h', 'not a url'])('refuses %s', (raw) => {
    expect(refusal(parseEngineUrl, raw)).toMatch(/^is not an engine URL/);
  });
});

describe('schema helpers', () => {
  it('ConfigError joins a message onto one line, whatever its line breaks and the blanks around them', () => {
    const error = new ConfigError('--x', 'a  \r\n\t b\nc\n\nd');
    expect(error.message).toBe('--x: a b c d');
    expect(error.field).toBe('--x');
    expect(error.name).toBe('ConfigError');
    expect(new ConfigError('--x', 'two  spaces stay').message).toBe('--x: two  spaces stay');
  });

  it('engineHostRootFor: the explicit one, else / for a host engine and the host root for an embedded one', () => {
    expect(engineHostRootFor({ hostRoot: '/host' }, 'host')).toBe('/');
    expect(engineHostRootFor({ hostRoot: '/host' }, 'embedded')).toBe('/host');
    expect(engineHostRootFor({ hostRoot: '/host', engineHostRoot: '/mnt' }, 'embedded')).toBe('/mnt');
  });

  it.each([
    ['sysbox-runc', true],
    ['sysbox-runc-0.6', true],
    ['runc', false],
    ['my-sysbox-', false],
    ['sysbox', false],
  ])('isSysboxRuntime(%s) is %s', (name, expected) => {
    expect(isSysboxRuntime(name)).toBe(expected);
  });
});
