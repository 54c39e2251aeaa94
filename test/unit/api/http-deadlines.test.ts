/**
 * The port cannot be held open: a caller that never finishes its headers or its body, or sits idle on a kept-alive
 * connection, is cut off by the app's deadlines. Real sockets on 127.0.0.1 (the deadlines live in Node's HTTP
 * server, which app.inject bypasses), with deadlines shortened so that each case ends in well under a second; each
 * waits for the server to close the connection, never for a fixed time.
 */
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from '../../../src/api/app.js';
import { DockerEngine } from '../../../src/engine/docker.js';
import { type ApiUnderTest, buildApiUnderTest } from '../../support/api.js';

const SHORT: HttpTimeouts = { headersMs: 300, requestMs: 600, idleMs: 5_000, keepAliveMs: 300, checkIntervalMs: 50 };
const absentEngine = () => new DockerEngine({ dockerHost: 'unix:///nonexistent/cvm-deadlines-test.sock' });

/** Writes `text`, then waits until the server closes the connection; resolves with what it answered and when. */
function heldOpen(port: number, text: string): Promise<{ answer: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      resolve({ answer: Buffer.concat(chunks).toString('latin1'), closedAfterMs: Date.now() - started });
    });
    socket.write(text);
  });
}

describe('connection deadlines on a real socket', () => {
  let api: ApiUnderTest;
  let port: number;
  beforeAll(async () => {
    api = await buildApiUnderTest({ engine: absentEngine(), started: true, timeouts: SHORT });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    port = (api.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await api.close();
  });

  it('cuts off headers that never end (slowloris) with 408', async () => {
    const { answer, closedAfterMs } = await heldOpen(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(SHORT.headersMs - 50);
  });

  it('cuts off a body that never arrives in full with 408', async () => {
    const head = 'PUT /v1/workspaces/w HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
    const { answer, closedAfterMs } = await heldOpen(port, `${head}{"image":`);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(SHORT.requestMs - 50);
  });

  it('closes a kept-alive connection that stays idle after its answer', async () => {
    const { answer, closedAfterMs } = await heldOpen(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(SHORT.keepAliveMs - 50);
  });

  it('by default: headers within 10 s, the request within 30 s, 10 s kept alive, 60 s idle, checked every second', async () => {
    const fresh = await buildApiUnderTest({ engine: absentEngine(), started: true });
    try {
      expect(DEFAULT_HTTP_TIMEOUTS).toEqual({ headersMs: 10_000, requestMs: 30_000, idleMs: 60_000, keepAliveMs: 10_000, checkIntervalMs: 1_000 });
      const server = fresh.app.server;
      expect([server.headersTimeout, server.requestTimeout, server.keepAliveTimeout, server.timeout]).toEqual([10_000, 30_000, 10_000, 60_000]);
    } finally {
      await fresh.close();
    }
  });
});
