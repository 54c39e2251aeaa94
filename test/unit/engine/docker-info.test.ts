/**
 * DockerEngine.info() shares one request among callers at the same time. A fake Engine API on a unix socket
 * stands in for dockerd, so the requests it gets can be counted (the real engine does not report them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../../src/engine/docker.js';

const ANSWER_AFTER_MS = 50;

let dir: string;
let engine: DockerEngine;
let server: Server;
let infoRequests = 0;
let runtimes: Record<string, object> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cvm-engine-info-'));
  const socket = path.join(dir, 'engine.sock');
  server = createServer((req, res) => {
    if (req.url === '/info') infoRequests++;
    // Read when the request arrives, as dockerd does.
    const body = req.url === '/info' ? { ServerVersion: '20.10.24', Runtimes: runtimes } : { Version: '20.10.24', ApiVersion: '1.41' };
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)), ANSWER_AFTER_MS);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  engine = new DockerEngine({ dockerHost: `unix://${socket}` });
});

beforeEach(() => {
  infoRequests = 0;
  runtimes = { runc: {} };
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('DockerEngine.info', () => {
  it('makes one request for callers at the same time', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => engine.info()));
    expect(infoRequests).toBe(1);
    expect(answers.map((a) => a.runtimes)).toEqual(Array.from({ length: 20 }, () => ['runc']));
  });

  it('asks again once the shared request has answered, so a change is seen', async () => {
    await engine.info();
    runtimes = { runc: {}, 'sysbox-runc': {} };
    expect((await engine.info()).runtimes).toEqual(['runc', 'sysbox-runc']);
    expect(infoRequests).toBe(2);
  });
});
