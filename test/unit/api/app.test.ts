/**
 * The HTTP contract (API.md) through app.inject, for every case that never needs a working engine: probes, auth,
 * schema failures, oversized bodies, unknown routes and workspaces, and the OpenAPI document.
 *
 * The manager runs over `unreachableEngine`, whose every method throws "not reachable in this test": it stands in
 * for the engine only to prove these requests never reach it (one that did would answer 500 and fail its test).
 * The 503 cases use the real DockerEngine pointed at a socket that does not exist. Everything that needs the test
 * engine is in test/integration/api-contract.test.ts.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BODY_LIMIT } from '../../../src/api/app.js';
import { TokenFile } from '../../../src/api/auth.js';
import { DockerEngine } from '../../../src/engine/docker.js';
import type { Engine } from '../../../src/engine/types.js';
import { type ApiUnderTest, buildApiUnderTest, expectApiError } from '../../support/api.js';

const unreachableEngine = new Proxy({} as Engine, {
  get: (_target, property) => {
    // Not a thenable: `await engine` must not call it.
    if (property === 'then') return undefined;
    return () => {
      throw new Error(`engine.${String(property)}: not reachable in this test`);
    };
  },
});

const ID = 'unit-api-ws';
const json = { 'content-type': 'application/json' };

interface OpenApiOperation {
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { securitySchemes?: Record<string, unknown> };
}

/**
 * Every route the app serves, as "METHOD /path" with OpenAPI-style {params}, read from fastify's own route table
 * (printRoutes draws it as a tree: each level indents by 4 characters and continues its parent's path).
 */
function servedRoutes(api: ApiUnderTest): string[] {
  const routes: string[] = [];
  const prefixes: string[] = [];
  for (const line of api.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match?.[1]) continue;
    const depth = (line.indexOf('── ') - 1) / 4;
    prefixes.length = depth;
    const url = `${prefixes.join('')}${match[1]}`;
    prefixes.push(match[1]);
    for (const method of match[2]?.split(', ') ?? []) {
      if (method !== 'HEAD') routes.push(`${method} ${url.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

describe('HTTP API without an engine (app.inject)', () => {
  let api: ApiUnderTest;
  beforeAll(async () => {
    api = await buildApiUnderTest({ engine: unreachableEngine, started: true });
  });
  afterAll(async () => {
    await api.close();
  });

  it('GET /healthz answers 200 {"status":"ok"}', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('an unknown route is a 404 in the error shape', async () => {
    expectApiError(await api.app.inject({ method: 'GET', url: '/v2/nothing' }), 404, 'NotFound');
    expectApiError(await api.app.inject({ method: 'PATCH', url: `/v1/workspaces/${ID}` }), 404, 'NotFound');
  });

  it('GET /v1/workspaces lists nothing yet', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/v1/workspaces' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ workspaces: [] });
  });

  it('an unknown workspace is a 404 on every workspace route', async () => {
    const calls = [
      { method: 'GET', url: `/v1/workspaces/${ID}` },
      ...['start', 'stop', 'restart', 'rebuild'].map((action) => ({ method: 'POST', url: `/v1/workspaces/${ID}/${action}` })),
      { method: 'DELETE', url: `/v1/workspaces/${ID}` },
      { method: 'DELETE', url: `/v1/workspaces/${ID}?purge=true` },
    ] as const;
    for (const call of calls) {
      const error = expectApiError(await api.app.inject(call), 404, 'NotFound');
      expect(error.message, `${call.method} ${call.url}`).toContain(ID);
    }
  });

  it('{"image":5} is a 400 at path image: the body is not coerced', async () => {
    const res = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: '{"image":5}' });
    const error = expectApiError(res, 400, 'InvalidSpec');
    expect(error.details).toMatchObject({ path: 'image', in: 'body' });
  });

  it('an unknown field is a 400 naming it, at the top level and nested, not silently dropped', async () => {
    const top = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: { image: 'busybox', imagePolicy: 'x' } });
    expect(expectApiError(top, 400, 'InvalidSpec').details).toMatchObject({ path: 'imagePolicy', in: 'body' });
    const nested = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: { image: 'busybox', resources: { cpu: 2 } } });
    expect(expectApiError(nested, 400, 'InvalidSpec').details).toMatchObject({ path: 'resources.cpu', in: 'body' });
  });

  it('a body that is not JSON, and a PUT without a body, are 400s', async () => {
    expectApiError(await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: '{"image":' }), 400, 'InvalidRequest');
    const empty = expectApiError(await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: '' }), 400, 'InvalidSpec');
    expect(empty.details).toMatchObject({ in: 'body' });
  });

  it('an {id} that is not a DNS label is a 400 at path id on every workspace route; 63 characters pass', async () => {
    for (const bad of ['Bad_Id', 'a'.repeat(64), '-leading', 'trailing-']) {
      for (const call of [
        { method: 'PUT', url: `/v1/workspaces/${bad}`, headers: json, payload: { image: 'busybox' } },
        { method: 'GET', url: `/v1/workspaces/${bad}` },
        { method: 'POST', url: `/v1/workspaces/${bad}/start` },
        { method: 'DELETE', url: `/v1/workspaces/${bad}` },
      ] as const) {
        const error = expectApiError(await api.app.inject(call), 400, 'InvalidRequest');
        expect(error.details, `${call.method} ${call.url}`).toMatchObject({ path: 'id', in: 'params' });
      }
    }
    // Valid, so it reaches the manager, which does not know it.
    expectApiError(await api.app.inject({ method: 'GET', url: `/v1/workspaces/${'a'.repeat(63)}` }), 404, 'NotFound');
  });

  it('?purge must be a boolean', async () => {
    const error = expectApiError(await api.app.inject({ method: 'DELETE', url: `/v1/workspaces/${ID}?purge=maybe` }), 400, 'InvalidRequest');
    expect(error.details).toMatchObject({ path: 'purge', in: 'querystring' });
  });

  it('a body over 1 MiB is a 413; just under the limit it is read (and refused here for its unknown field)', async () => {
    const sized = (bytes: number): string => {
      const frame = JSON.stringify({ image: 'busybox', padding: '' });
      return JSON.stringify({ image: 'busybox', padding: 'x'.repeat(bytes - frame.length) });
    };
    expect(DEFAULT_BODY_LIMIT).toBe(1024 * 1024);
    const over = sized(DEFAULT_BODY_LIMIT + 1);
    expect(Buffer.byteLength(over)).toBe(DEFAULT_BODY_LIMIT + 1);
    expectApiError(await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: over }), 413, 'PayloadTooLarge');
    const under = expectApiError(await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: sized(DEFAULT_BODY_LIMIT) }), 400, 'InvalidSpec');
    expect(under.details).toMatchObject({ path: 'padding' });
  });

  it('/readyz turns 503 with "shutting down" at once after markShuttingDown', async () => {
    api.readiness.markShuttingDown();
    const res = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    const body = res.json<{ status: string; reasons: string[] }>();
    expect(body.status).toBe('unready');
    expect(body.reasons).toContain('shutting down');
    // /v1 is not blocked by readiness.
    expect((await api.app.inject({ method: 'GET', url: '/v1/workspaces' })).statusCode).toBe(200);
  });
});

describe('request loggers', () => {
  it('probes share one child logger; every other request gets its own, with its reqId', async () => {
    const lines: { msg?: string; reqId?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const makeChild = logger.child.bind(logger);
    let children = 0;
    logger.child = ((...args: Parameters<typeof makeChild>) => {
      children += 1;
      return makeChild(...args);
    }) as typeof logger.child;
    const api = await buildApiUnderTest({ engine: unreachableEngine, started: true, logger });
    try {
      const before = children;
      for (let i = 0; i < 5; i++) expect((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect(children - before).toBeLessThanOrEqual(1);
      const afterProbes = children;
      for (let i = 0; i < 3; i++) await api.app.inject({ method: 'GET', url: '/v1/workspaces' });
      expect(children - afterProbes).toBe(3);
      const incoming = lines.filter((line) => line.msg === 'incoming request');
      expect(incoming).toHaveLength(3); // the probes' info lines stay quiet (their routes log at warn)
      expect(new Set(incoming.map((line) => line.reqId)).size).toBe(3);
    } finally {
      await api.close();
    }
  });
});

describe('OpenAPI document', () => {
  let api: ApiUnderTest;
  let doc: OpenApiDoc;
  beforeAll(async () => {
    api = await buildApiUnderTest({ engine: unreachableEngine, started: true });
    const res = await api.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    doc = res.json<OpenApiDoc>();
  });
  afterAll(async () => {
    await api.close();
  });

  it('matches the snapshot', async () => {
    await expect(`${JSON.stringify(doc, null, 2)}\n`).toMatchFileSnapshot('__snapshots__/openapi.json');
  });

  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents every route fastify serves (but itself), with its schemas', () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([url, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${url}`))
      .sort();
    const served = servedRoutes(api).filter((route) => route !== 'GET /openapi.json');
    expect(served).toContain('PUT /v1/workspaces/{id}');
    expect(documented).toEqual(served);
    for (const [url, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const where = `${method.toUpperCase()} ${url}`;
        for (const param of url.match(/\{[^}]+\}/g) ?? []) {
          const declared = operation.parameters?.find((p) => p.in === 'path' && `{${p.name}}` === param);
          expect(declared?.schema, `${where}: ${param}`).toBeDefined();
        }
        const success = Object.entries(operation.responses).filter(([status]) => status.startsWith('2'));
        expect(success.length, where).toBeGreaterThan(0);
        if (url.startsWith('/v1')) {
          for (const [status, response] of success) {
            const schemas = Object.values(response.content ?? {}).map((media) => media.schema);
            expect(schemas.length > 0 && schemas.every(Boolean), `${where}: ${status}`).toBe(true);
          }
          expect(operation.responses['401']?.content?.['application/json']?.schema, `${where}: 401`).toBeDefined();
        }
      }
    }
    const put = doc.paths['/v1/workspaces/{id}']?.['put'];
    expect(put?.requestBody?.content['application/json']?.schema).toMatchObject({ required: ['image'], additionalProperties: false });
    expect(doc.paths['/v1/workspaces/{id}']?.['delete']?.parameters?.find((p) => p.in === 'query')?.name).toBe('purge');
  });

  it('requires the bearer scheme on every /v1 operation and on nothing else', () => {
    expect(doc.components.securitySchemes?.['bearer']).toEqual({ type: 'http', scheme: 'bearer' });
    for (const [url, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const expected = url.startsWith('/v1') ? [{ bearer: [] }] : undefined;
        expect(operation.security, `${method.toUpperCase()} ${url}`).toEqual(expected);
      }
    }
  });
});

describe('auth through inject', () => {
  it('answers 401 in the error shape before anything else, and passes the right token', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'cvm-unit-token-')), 'token');
    await writeFile(file, 'unit-token-1234-5678-90ab-cdef-0123\n');
    const tokens = new TokenFile(file, pino({ level: 'silent' }));
    // Not started: a 401 must come before the 503 of a daemon still connecting.
    const api = await buildApiUnderTest({ engine: unreachableEngine, started: false, tokens });
    try {
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer unit-token', 'unit-token-1234-5678-90ab-cdef-0123']) {
        const headers = authorization === undefined ? {} : { authorization };
        expectApiError(await api.app.inject({ method: 'GET', url: '/v1/workspaces', headers }), 401, 'Unauthorized');
      }
      const right = await api.app.inject({ method: 'GET', url: '/v1/workspaces', headers: { authorization: 'Bearer unit-token-1234-5678-90ab-cdef-0123' } });
      expectApiError(right, 503, 'EngineUnavailable');
      expect((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      tokens.close();
      await api.close();
    }
  });
});

describe('an engine that does not answer (DockerEngine at unix:///nonexistent.sock)', () => {
  const engine = () => new DockerEngine({ dockerHost: 'unix:///nonexistent.sock' });

  it('/v1 answers 503 EngineUnavailable while the manager has not started; /healthz still 200', async () => {
    const api = await buildApiUnderTest({ engine: engine(), started: false });
    try {
      for (const url of ['/v1/workspaces', `/v1/workspaces/${ID}`, '/v1/node']) {
        expectApiError(await api.app.inject({ method: 'GET', url }), 503, 'EngineUnavailable');
      }
      const res = await api.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json<{ reasons: string[] }>().reasons).toContain('workspaces not loaded yet');
      expect((await api.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    } finally {
      await api.close();
    }
  });

  it('an engine call that fails is a 503 EngineUnavailable, nothing is stored, and /readyz says why', async () => {
    const api = await buildApiUnderTest({ engine: engine(), started: true });
    try {
      const put = await api.app.inject({ method: 'PUT', url: `/v1/workspaces/${ID}`, headers: json, payload: { image: 'busybox' } });
      expectApiError(put, 503, 'EngineUnavailable');
      expect(api.manager.list()).toEqual([]);
      expectApiError(await api.app.inject({ method: 'GET', url: '/v1/node' }), 503, 'EngineUnavailable');
      const preflight = await api.app.inject({ method: 'GET', url: '/v1/preflight' });
      expect(preflight.statusCode).toBe(200);
      expect(preflight.json<{ ok: boolean }>().ok).toBe(false);
      const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      const body = ready.json<{ status: string; reasons: string[] }>();
      expect(body.status).toBe('unready');
      expect(body.reasons.some((r) => r.startsWith('engine unreachable'))).toBe(true);
    } finally {
      await api.close();
    }
  });
});
