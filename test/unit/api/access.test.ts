/**
 * Who may do what on the port, through app.inject: the failed-token limit per address (on a clock the test
 * controls: only Date is faked, which is what the limit reads), the reasons of /readyz only for token holders,
 * and probes-only mode, which has no /v1 at all.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthLimit, clientKey } from '../../../src/api/auth-limit.js';
import { TokenFile } from '../../../src/api/auth.js';
import { Readiness } from '../../../src/api/readiness.js';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/schema.js';
import { wireDaemon } from '../../../src/daemon/wiring.js';
import { DockerEngine } from '../../../src/engine/docker.js';
import { type ApiUnderTest, buildApiUnderTest, expectApiError } from '../../support/api.js';

const TOKEN = 'access-test-token-3b7e0c94d1a25f68e0b1';
const RIGHT = { authorization: `Bearer ${TOKEN}` };
const WRONG = { authorization: 'Bearer access-test-token-guess-0000000000' };
/** An engine that never answers (no socket there): /readyz is unready, with an engine error among its reasons. */
const absentEngine = () => new DockerEngine({ dockerHost: 'unix:///nonexistent/cvm-access-test.sock' });

async function tokenFile(): Promise<TokenFile> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'cvm-access-')), 'token');
  await writeFile(file, `${TOKEN}\n`);
  return new TokenFile(file, pino({ level: 'silent' }));
}

describe('clientKey', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2::a', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:0:0:b', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ])('%s counts as %s', (address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it('keeps at most maxTracked addresses, dropping the oldest', () => {
    const limit = new AuthLimit({ maxFailures: 2, windowMs: 60_000, maxTracked: 3 });
    for (const ip of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) limit.recordFailure(ip);
    expect(limit.tracked).toBe(3);
    expect(limit.retryAfterSeconds('10.0.0.1')).toBeNull();
  });
});

describe('failed token attempts per address (app.inject, a faked Date)', () => {
  let tokens: TokenFile;
  let api: ApiUnderTest;
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2030-01-01T00:00:00Z') });
    tokens = await tokenFile();
    api = await buildApiUnderTest({ engine: absentEngine(), started: true, tokens });
  });
  afterEach(async () => {
    tokens.close();
    await api.close();
    vi.useRealTimers();
  });

  const list = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
    api.app.inject({ method: 'GET', url: '/v1/workspaces', headers, remoteAddress });

  it('answers 429 with Retry-After after 10 failures within a minute, whatever the token, until the minute is over', async () => {
    for (let i = 0; i < 10; i++) expectApiError(await list(WRONG), 401, 'Unauthorized');
    const accepts = vi.spyOn(tokens, 'accepts');
    const blocked = await list(WRONG);
    expectApiError(blocked, 429, 'TooManyRequests');
    expect(blocked.headers['retry-after']).toBe('60');
    // The right token gets the same answer: a blocked address learns nothing, and its token is not even compared.
    const right = await list(RIGHT);
    expectApiError(right, 429, 'TooManyRequests');
    expect(accepts).not.toHaveBeenCalled();
    // Another address is not affected.
    expect((await list(RIGHT, '127.0.0.2')).statusCode).toBe(200);

    vi.advanceTimersByTime(59_500);
    const late = await list(RIGHT);
    expectApiError(late, 429, 'TooManyRequests');
    expect(late.headers['retry-after']).toBe('1');
    vi.advanceTimersByTime(500);
    expect((await list(RIGHT)).statusCode).toBe(200);
  });

  it('counts failures per window: 9 a minute are never blocked', async () => {
    for (let minute = 0; minute < 3; minute++) {
      for (let i = 0; i < 9; i++) expectApiError(await list(WRONG), 401, 'Unauthorized');
      expect((await list(RIGHT)).statusCode).toBe(200);
      vi.advanceTimersByTime(60_000);
    }
  });

  it('counts an IPv6 client per /64', async () => {
    for (let i = 0; i < 10; i++) expectApiError(await list(WRONG, `2001:db8:1:2::${(i + 1).toString(16)}`), 401, 'Unauthorized');
    expectApiError(await list(RIGHT, '2001:db8:1:2::ffff'), 429, 'TooManyRequests');
    expect((await list(RIGHT, '2001:db8:1:3::1')).statusCode).toBe(200);
  });

  it('counts a wrong token sent to /readyz, which never answers 429 (kubelet must get its status)', async () => {
    for (let i = 0; i < 10; i++) {
      const ready = await api.app.inject({ method: 'GET', url: '/readyz', headers: WRONG, remoteAddress: '127.0.0.5' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'unready' });
    }
    expectApiError(await list(RIGHT, '127.0.0.5'), 429, 'TooManyRequests');
    const ready = await api.app.inject({ method: 'GET', url: '/readyz', headers: RIGHT, remoteAddress: '127.0.0.5' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unready' });
  });
});

describe('/readyz reasons go only to token holders', () => {
  let tokens: TokenFile;
  let api: ApiUnderTest;
  beforeAll(async () => {
    tokens = await tokenFile();
    api = await buildApiUnderTest({ engine: absentEngine(), started: true, tokens });
  });
  afterAll(async () => {
    tokens.close();
    await api.close();
  });

  it('without the token: the status only', async () => {
    for (const headers of [{}, WRONG, { authorization: 'Basic x' }]) {
      const res = await api.app.inject({ method: 'GET', url: '/readyz', headers });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'unready' });
    }
  });

  it('with the token: the reasons, engine errors included', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/readyz', headers: RIGHT });
    expect(res.statusCode).toBe(503);
    const body = res.json<{ status: string; reasons: string[] }>();
    expect(body.reasons.some((r) => r.startsWith('engine unreachable'))).toBe(true);
  });

  it('without a token file (loopback only), everyone is a token holder', async () => {
    const open = await buildApiUnderTest({ engine: absentEngine(), started: true });
    try {
      const res = await open.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.json<{ reasons?: string[] }>().reasons?.length).toBeGreaterThan(0);
    } finally {
      await open.close();
    }
  });

  it('a revoked token file makes the daemon unready and says why', () => {
    const readiness = new Readiness(absentEngine(), { cvmEnabled: false, cvmRuntime: 'sysbox-runc', started: () => true, apiLocked: () => ['no usable API token'] });
    return expect(readiness.reasons()).resolves.toContain('no usable API token');
  });
});

describe('probes-only mode', () => {
  it('serves the probes and no /v1 at all, and never shows reasons', async () => {
    const api = await buildApiUnderTest({ engine: absentEngine(), started: true, api: 'probes-only' });
    try {
      for (const [method, url] of [['GET', '/v1/workspaces'], ['PUT', '/v1/workspaces/w'], ['GET', '/v1/node'], ['GET', '/v1/preflight']] as const) {
        expectApiError(await api.app.inject({ method, url, headers: RIGHT }), 404, 'NotFound');
      }
      expect((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await api.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      const ready = await api.app.inject({ method: 'GET', url: '/readyz', headers: RIGHT });
      expect(ready.json()).toEqual({ status: 'unready' });
      const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/v1'))).toEqual([]);
    } finally {
      await api.close();
    }
  });

  it('takes no token file: the flag or variable that gives one is named', () => {
    const flags = () => loadConfig(['--api', 'probes-only', '--token-file', '/etc/cvm/token'], {});
    expect(flags).toThrow(ConfigError);
    expect(flags).toThrow(/^--token-file: is not used with --api probes-only/);
    expect(() => loadConfig([], { CVM_API: 'probes-only', CVM_TOKEN_FILE: '/etc/cvm/token' })).toThrow(/^CVM_TOKEN_FILE: is not used with CVM_API probes-only/);
  });

  it('listens beyond loopback without a token file, since there is no /v1 to open', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'cvm-probes-only-'));
    const config = loadConfig(['--api', 'probes-only', '--listen', '0.0.0.0:0', '--state-dir', stateDir, '--docker-host', 'unix:///nonexistent/x.sock'], {});
    const parts = await wireDaemon(config, pino({ level: 'silent' }), 'host', { started: true, startupProblem: null, cvmBlockers: [] });
    try {
      expect(parts.tokens).toBeNull();
      expectApiError(await parts.app.inject({ method: 'GET', url: '/v1/workspaces' }), 404, 'NotFound');
    } finally {
      await parts.app.close();
    }
    const full = loadConfig(['--listen', '0.0.0.0:0', '--state-dir', stateDir], {});
    await expect(wireDaemon(full, pino({ level: 'silent' }), 'host', { started: true, startupProblem: null, cvmBlockers: [] })).rejects.toThrow(/without --token-file the API may only listen on loopback/);
  });
});
