/**
 * The adapter's request budgets. A fake Engine API on a unix socket stands in for a busy dockerd, whose answer to a
 * container start can take long (many starts at once queue behind each other: 200 took 30 s on the test node),
 * which the real engine cannot be made to do on demand.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../../src/engine/docker.js';
import { EngineUnavailableError } from '../../../src/engine/engine-errors.js';

const ANSWER_AFTER_MS = 400;
const ORDINARY_BUDGET_MS = 100;

let dir: string;
let socket: string;
let server: Server;
const started: string[] = [];
const createBodies: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cvm-engine-budgets-'));
  socket = path.join(dir, 'engine.sock');
  // Every request is answered, correctly, but only after ANSWER_AFTER_MS.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.url?.startsWith('/containers/create') === true) createBodies.push(JSON.parse(body) as Record<string, unknown>);
    });
    setTimeout(() => {
      const start = /^\/containers\/(\w+)\/start$/.exec(req.url ?? '');
      if (req.method === 'POST' && start?.[1] !== undefined) {
        started.push(start[1]);
        res.writeHead(204).end();
      } else if (req.method === 'POST' && req.url?.startsWith('/containers/create') === true) {
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"Id":"made-late","Warnings":[]}');
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no such container"}');
      }
    }, ANSWER_AFTER_MS);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('DockerEngine budgets', () => {
  it('waits for a start longer than the ordinary request budget', async () => {
    const engine = new DockerEngine({ dockerHost: `unix://${socket}`, requestTimeoutMs: ORDINARY_BUDGET_MS });
    await engine.startContainer('slow1');
    expect(started).toContain('slow1');
  });

  it('gives up on an ordinary request answered as late', async () => {
    const engine = new DockerEngine({ dockerHost: `unix://${socket}`, requestTimeoutMs: ORDINARY_BUDGET_MS });
    await expect(engine.inspectContainer('slow2')).rejects.toBeInstanceOf(EngineUnavailableError);
  });

  it('gives up on a container create answered as late, and sends the spec alone', async () => {
    const engine = new DockerEngine({ dockerHost: `unix://${socket}`, requestTimeoutMs: ORDINARY_BUDGET_MS });
    const spec = { name: 'slow-create', Image: 'sha256:0', Labels: {}, HostConfig: {} };
    await expect(engine.createContainer(spec)).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(createBodies).toEqual([{ name: 'slow-create', Image: 'sha256:0', Labels: {}, HostConfig: {} }]);
    expect(spec).toEqual({ name: 'slow-create', Image: 'sha256:0', Labels: {}, HostConfig: {} });
  });

  it('still bounds a start by its own budget', async () => {
    const engine = new DockerEngine({ dockerHost: `unix://${socket}`, startTimeoutMs: ORDINARY_BUDGET_MS });
    await expect(engine.startContainer('slow3')).rejects.toBeInstanceOf(EngineUnavailableError);
  });
});
