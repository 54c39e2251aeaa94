/**
 * Bearer auth over a real socket: the daemon as `serve` builds it (startDaemon, real token file, test engine),
 * listening on 127.0.0.1:0. Every /v1 operation, enumerated from the served OpenAPI document so a new route cannot
 * be forgotten, answers 401 without a token, with a wrong one and with a prefix of the right one, and does not
 * with the right one. A rotated token file takes effect without a restart; an emptied or deleted one revokes the
 * token until a good one is back. Failed attempts count per address (10 a minute, then 429), so the refusals of
 * each operation come from a loopback address of their own (all of 127.0.0.0/8 reaches 127.0.0.1).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { type Daemon, startDaemon } from '../../src/daemon/run.js';
import { expectApiError } from '../support/api.js';
import { removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { sleep } from '../support/manager.js';

const RUN = randomBytes(3).toString('hex');
/** Never created: every request with the right token ends at 400 or 404, so the test leaves nothing behind. */
const ABSENT_ID = `api-auth-${RUN}-absent`;
const newToken = () => `tok-${randomBytes(24).toString('base64url')}`;

interface Operation {
  method: string;
  path: string;
}

describe('bearer auth over a real socket', () => {
  let dir: string;
  let tokenFile: string;
  let token: string;
  let daemon: Daemon;
  let base: string;
  let operations: Operation[];

  let port: number;
  let addresses = 0;
  /** A loopback address no earlier request used (127.2.0.1, 127.2.0.2, ...). */
  const freshAddress = (): string => {
    addresses += 1;
    return `127.2.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
  };

  /** One request of `op` from `from`; a PUT carries `{}` (refused by the schema if auth lets it through, so nothing is stored). */
  function call(op: Operation, authorization?: string, from = '127.0.0.1'): Promise<{ statusCode: number; body: string; retryAfter?: string }> {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    const body = op.method === 'PUT' ? '{}' : undefined;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, localAddress: from, method: op.method, path: op.path.replaceAll('{id}', ABSENT_ID), headers, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(retryAfter !== undefined && { retryAfter }) });
        });
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', reject);
      req.end(body);
    });
  }

  const listWorkspaces: Operation = { method: 'GET', path: '/v1/workspaces' };

  /** Polls until `authorization` is accepted (each refused try from a fresh address); returns how long that took. */
  async function acceptedWithin(authorization: string, timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const res = await call(listWorkspaces, authorization, freshAddress());
      if (res.statusCode === 200) return Date.now() - started;
      expect(res.statusCode).toBe(401);
      if (Date.now() - started > timeoutMs) throw new Error(`the rotated token was not accepted within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  beforeAll(async () => {
    await requireTestEngine();
    dir = await mkdtemp(path.join(tmpdir(), `cvm-api-auth-${RUN}-`));
    tokenFile = path.join(dir, 'token');
    token = newToken();
    await writeFile(tokenFile, `${token}\n`);
    const config = loadConfig(
      ['--listen', '127.0.0.1:0', '--token-file', tokenFile, '--state-dir', path.join(dir, 'state'), '--docker-host', testDockerHost(), '--shutdown-policy', 'keep'],
      {},
    );
    daemon = await startDaemon(config, pino({ level: 'silent' }));
    expect(await daemon.started).toBe(true);
    port = (daemon.app.server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${String(port)}`;

    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    operations = Object.entries(doc.paths)
      .filter(([url]) => url.startsWith('/v1/'))
      .flatMap(([url, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path: url })));
  });
  afterAll(async () => {
    for (const step of daemon.shutdownSteps) await step(Date.now() + 10_000);
    await removeLabelled(`${WORKSPACE_LABEL}=${ABSENT_ID}`);
    await rm(dir, { recursive: true, force: true });
  });

  it('enumerates the /v1 operations from the OpenAPI document', () => {
    const names = operations.map((op) => `${op.method} ${op.path}`);
    for (const known of ['GET /v1/workspaces', 'PUT /v1/workspaces/{id}', 'DELETE /v1/workspaces/{id}', 'POST /v1/workspaces/{id}/rebuild', 'GET /v1/node']) {
      expect(names).toContain(known);
    }
  });

  it('answers 401 on every /v1 operation without a token, with a wrong one, and with a prefix of the right one', async () => {
    const refused = [
      undefined,
      '',
      'Bearer',
      `Bearer ${newToken()}`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token.slice(0, token.length / 2)}`,
      `Bearer ${token}x`,
      `Basic ${token}`,
      token,
    ];
    expect(refused.length).toBeLessThan(10);
    for (const op of operations) {
      const from = freshAddress();
      for (const authorization of refused) {
        const res = await call(op, authorization, from);
        expect(res.statusCode, `${op.method} ${op.path} with ${JSON.stringify(authorization)}`).toBe(401);
        expectApiError(res, 401, 'Unauthorized');
      }
    }
  });

  it('lets the right token through on every /v1 operation', async () => {
    for (const op of operations) {
      const res = await call(op, `Bearer ${token}`);
      expect(res.statusCode, `${op.method} ${op.path}: ${res.body}`).not.toBe(401);
      expect(res.statusCode, `${op.method} ${op.path}: ${res.body}`).toBeLessThan(500);
    }
  });

  it('never asks for a token on the probes, /metrics and /openapi.json', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
      expect((await fetch(`${base}${url}`)).status, url).toBe(200);
    }
  });

  it('takes a rotated token file within about 2 s, without a restart, and refuses the old token', async () => {
    // In place, as an editor or `kubectl cp` would.
    const second = newToken();
    await writeFile(tokenFile, `${second}\n`);
    expect(await acceptedWithin(`Bearer ${second}`, 2500)).toBeLessThanOrEqual(2500);
    expectApiError(await call(listWorkspaces, `Bearer ${token}`, freshAddress()), 401, 'Unauthorized');

    // Replaced by a rename, as Kubernetes swaps a secret's files.
    const third = newToken();
    const staged = path.join(dir, 'token.next');
    await writeFile(staged, `${third}\n`);
    await rename(staged, tokenFile);
    expect(await acceptedWithin(`Bearer ${third}`, 2500)).toBeLessThanOrEqual(2500);
    expectApiError(await call(listWorkspaces, `Bearer ${second}`, freshAddress()), 401, 'Unauthorized');
    token = third;
  });

  it('revokes the token when its file is emptied or deleted: 401 for everyone, /readyz unready; a new token brings /v1 back', async () => {
    for (const revoke of [() => writeFile(tokenFile, ''), () => rm(tokenFile)]) {
      await revoke();
      await expect.poll(async () => (await call(listWorkspaces, `Bearer ${token}`, freshAddress())).statusCode, { timeout: 5000, interval: 50 }).toBe(401);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unready' });
      token = newToken();
      await writeFile(tokenFile, `${token}\n`);
      expect(await acceptedWithin(`Bearer ${token}`, 2500)).toBeLessThanOrEqual(2500);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    }
  });

  it('answers 429 with Retry-After after 10 failed attempts from one address, to the right token too; other addresses go on', async () => {
    const from = freshAddress();
    for (let i = 0; i < 10; i++) expectApiError(await call(listWorkspaces, `Bearer ${newToken()}`, from), 401, 'Unauthorized');
    const blocked = await call(listWorkspaces, `Bearer ${token}`, from);
    expectApiError(blocked, 429, 'TooManyRequests');
    expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
    expect(Number(blocked.retryAfter)).toBeLessThanOrEqual(60);
    expect((await call(listWorkspaces, `Bearer ${token}`)).statusCode).toBe(200);
  });
});
