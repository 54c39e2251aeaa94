/**
 * The build-log stream without an engine: the cursor that pulls from a workspace's EventLog (drain, falling behind
 * the ring, unsubscribing), the framing, and the route through app.inject.
 *
 * Route bodies need a workspace with a log, which a real WorkspaceManager only makes through the engine; those
 * cases register the route plugin on a bare fastify with a lookup over real EventLogs (the plugin asks only for
 * `workspace(id)`). Auth, 404 and the OpenAPI entry go through the real buildApp, with a real manager whose
 * DockerEngine points at a socket that does not exist (these requests must never reach it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type App, buildApp } from '../../../../src/api/app.js';
import { TokenFile } from '../../../../src/api/auth.js';
import { errorHandler } from '../../../../src/api/error-responses.js';
import { Readiness } from '../../../../src/api/readiness.js';
import {
  EventCursor,
  type EventSink,
  entriesAfter,
  eventRoutes,
  formatEntry,
  startCursor,
  type StreamEntry,
} from '../../../../src/api/routes/events.js';
import { loadConfig } from '../../../../src/config/load.js';
import { daemonPreflight } from '../../../../src/daemon/host-readers.js';
import { createManager } from '../../../../src/daemon/wiring.js';
import { DockerEngine } from '../../../../src/engine/docker.js';
import { EventLog } from '../../../../src/lifecycle/event-log.js';
import { Metrics } from '../../../../src/metrics.js';

const silent = pino({ level: 'silent' });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Lets the event loop turn until `condition` holds (no clock involved; expect.poll would move a fake one). */
async function turnsUntil(condition: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn === maxTurns) throw new Error(`the condition did not hold within ${maxTurns} turns of the event loop`);
    await nextTurn();
  }
}

/** A socket stand-in: accepts `room` writes, then reports a full buffer until the test drains it. */
class RecordingSink implements EventSink {
  readonly texts: string[] = [];
  ended = 0;
  constructor(public room = Infinity) {}
  write(text: string): boolean {
    this.texts.push(text);
    this.room -= 1;
    return this.room > 0;
  }
  end(): void {
    this.ended += 1;
  }
  get entries(): StreamEntry[] {
    return this.texts.map((t) => JSON.parse(t) as StreamEntry);
  }
  get seqs(): number[] {
    return this.entries.map((e) => e.seq);
  }
}

function logWith(count: number, capacity = 1000): EventLog {
  const log = new EventLog(capacity);
  for (let i = 1; i <= count; i++) log.append('info', `line ${i}`);
  return log;
}

describe('framing', () => {
  const entry: StreamEntry = { seq: 7, time: '2026-11-25T08:00:00.000Z', kind: 'phase', message: 'two\nlines', data: { phase: 'running' } };

  it('writes one JSON line per entry as NDJSON, newlines inside escaped', () => {
    const text = formatEntry(entry, 'ndjson');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(text)).toEqual(entry);
  });

  it('writes an SSE frame with the seq as id and the kind as event', () => {
    expect(formatEntry(entry, 'sse')).toBe(`id: 7\nevent: phase\ndata: ${JSON.stringify(entry)}\n\n`);
  });
});

describe('entriesAfter and startCursor', () => {
  it('returns what follows the cursor and counts what the ring dropped in between', () => {
    const buffered = logWith(20, 5).snapshot(); // seqs 16..20
    expect(entriesAfter(buffered, 17)).toEqual({ skipped: 0, entries: buffered.slice(2) });
    expect(entriesAfter(buffered, 15)).toEqual({ skipped: 0, entries: buffered });
    expect(entriesAfter(buffered, 10)).toEqual({ skipped: 5, entries: buffered });
    expect(entriesAfter(buffered, 20)).toEqual({ skipped: 0, entries: [] });
    expect(entriesAfter([], 3)).toEqual({ skipped: 0, entries: [] });
  });

  it('starts at the oldest buffered entry, or after a Last-Event-ID this log has reached', () => {
    const log = logWith(20, 5); // seqs 16..20
    expect(startCursor(log, undefined)).toBe(15);
    expect(startCursor(log, '18')).toBe(18);
    expect(startCursor(log, ' 3 ')).toBe(3);
    // Beyond the newest: an id from an earlier log (restarted daemon), so everything buffered.
    expect(startCursor(log, '21')).toBe(15);
    // Each of these is a number to Number() but not the digits alone that an id is written with.
    for (const junk of ['', 'abc', '-1', '+18', '18.0', '18x', 'x18', '0x12', '1e3', '99999999999999999999']) {
      expect(startCursor(log, junk), junk).toBe(15);
    }
    expect(startCursor(new EventLog(), '5')).toBe(0);
  });

  it('a Last-Event-ID equal to the newest entry replays nothing: the reader is up to date', () => {
    const log = logWith(20, 5); // seqs 16..20
    expect(startCursor(log, '20')).toBe(20);
    const sink = new RecordingSink();
    new EventCursor(log, sink, 'sse', startCursor(log, '20'), false).start();
    expect(sink.texts).toEqual([]);
    expect(sink.ended).toBe(1);
  });
});

describe('EventCursor', () => {
  it('without follow writes what was buffered when it started, ends once and never subscribes', () => {
    const log = logWith(3);
    const sink = new RecordingSink();
    new EventCursor(log, sink, 'ndjson', 0, false).start();
    log.append('info', 'too late');
    expect(sink.seqs).toEqual([1, 2, 3]);
    expect(sink.ended).toBe(1);
    expect(log.listenerCount).toBe(0);
  });

  it('without follow ends at the entry that was newest when it started, also when a full sink makes it wait', () => {
    const log = logWith(3);
    const sink = new RecordingSink(1);
    const cursor = new EventCursor(log, sink, 'ndjson', 0, false);
    cursor.start();
    expect(sink.seqs).toEqual([1]);
    log.append('info', 'after the start 1');
    log.append('info', 'after the start 2');
    sink.room = Infinity;
    cursor.drained();
    expect(sink.seqs).toEqual([1, 2, 3]);
    expect(sink.ended).toBe(1);
    cursor.drained();
    expect(sink.seqs).toEqual([1, 2, 3]);
    expect(sink.ended).toBe(1);
  });

  it('following, writes new entries after the producer returns and lets go of the log on close', async () => {
    const log = logWith(2);
    const sink = new RecordingSink();
    const cursor = new EventCursor(log, sink, 'ndjson', 1, true);
    cursor.start();
    expect(sink.seqs).toEqual([2]);
    expect(log.listenerCount).toBe(1);
    log.append('phase', 'running');
    log.append('info', 'after');
    expect(sink.seqs).toEqual([2]); // not from inside append()
    await nextTurn();
    expect(sink.seqs).toEqual([2, 3, 4]);
    cursor.close();
    expect(log.listenerCount).toBe(0);
    log.append('info', 'unseen');
    await nextTurn();
    expect(sink.seqs).toEqual([2, 3, 4]);
    expect(sink.ended).toBe(0);
  });

  it('pulls once for a burst of appends, after the producer returns', async () => {
    const log = logWith(1);
    const cursor = new EventCursor(log, new RecordingSink(), 'ndjson', 0, true);
    cursor.start();
    const snapshot = vi.spyOn(log, 'snapshot');
    for (let i = 0; i < 5; i++) log.append('bootstrap', `line ${i}`);
    await nextTurn();
    expect(snapshot).toHaveBeenCalledTimes(1);
    log.append('bootstrap', 'the next burst');
    await nextTurn();
    expect(snapshot).toHaveBeenCalledTimes(2);
    cursor.close();
  });

  it('a close between an append and its pull writes nothing more', async () => {
    const log = logWith(1);
    const sink = new RecordingSink();
    const cursor = new EventCursor(log, sink, 'ndjson', 0, true);
    cursor.start();
    log.append('info', 'appended before the close');
    cursor.close();
    await nextTurn();
    expect(sink.seqs).toEqual([1]);
    expect(sink.ended).toBe(0);
  });

  it('stops writing when the sink is full and carries on from its cursor on drain, no entry lost or repeated', async () => {
    const log = logWith(5);
    const sink = new RecordingSink(2);
    const cursor = new EventCursor(log, sink, 'ndjson', 0, true);
    cursor.start();
    expect(sink.seqs).toEqual([1, 2]);
    expect(cursor.isBlocked).toBe(true);
    log.append('info', 'while blocked');
    await nextTurn();
    expect(sink.seqs).toEqual([1, 2]);
    sink.room = 3;
    cursor.drained();
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5]);
    sink.room = Infinity;
    cursor.drained();
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5, 6]);
    cursor.close();
  });

  it('a reader that fell behind the ring gets one skipped entry with the count, then the rest in order', async () => {
    const log = new EventLog(5);
    log.append('phase', 'pending');
    const sink = new RecordingSink(1);
    const cursor = new EventCursor(log, sink, 'ndjson', 0, true);
    cursor.start();
    expect(sink.seqs).toEqual([1]);
    for (let i = 0; i < 20; i++) log.append('pull', `progress ${i}`); // seqs 2..21; the ring keeps 17..21
    await nextTurn();
    sink.room = Infinity;
    cursor.drained();
    const [, marker, ...rest] = sink.entries;
    expect(marker).toMatchObject({
      kind: 'skipped',
      seq: 16,
      message: '15 entries were dropped from the buffer before this reader got them',
      data: { skipped: 15, fromSeq: 2, toSeq: 16 },
    });
    expect(rest.map((e) => e.seq)).toEqual([17, 18, 19, 20, 21]);
    log.append('info', 'caught up');
    await nextTurn();
    expect(sink.seqs.at(-1)).toBe(22);
    expect(sink.entries.filter((e) => e.kind === 'skipped')).toHaveLength(1);
    cursor.close();
  });

  it('finish() stops following, writes what is buffered and ends; a blocked one ends after its drain', () => {
    const log = logWith(3);
    const sink = new RecordingSink(1);
    const cursor = new EventCursor(log, sink, 'sse', 0, true);
    cursor.start();
    cursor.finish();
    expect(log.listenerCount).toBe(0);
    expect(sink.ended).toBe(0);
    sink.room = Infinity;
    cursor.drained();
    expect(sink.texts.map((t) => /^id: (\d+)/.exec(t)?.[1])).toEqual(['1', '2', '3']);
    expect(sink.ended).toBe(1);
  });
});

/** A lookup over real EventLogs; `gone` ids answer undefined, as the manager does once a delete finished. */
function sourceOf(logs: Map<string, { log: EventLog }>) {
  return { workspace: (id: string) => logs.get(id) };
}

describe('GET /v1/workspaces/{id}/events (route plugin)', () => {
  const logs = new Map<string, { log: EventLog }>();
  const app = Fastify().setValidatorCompiler(TypeBoxValidatorCompiler).setErrorHandler(errorHandler).register(eventRoutes(sourceOf(logs)));

  beforeAll(async () => {
    const log = new EventLog();
    log.append('phase', 'pulling', { phase: 'pulling' });
    log.append('pull', 'layer 1/2');
    log.append('phase', 'running', { phase: 'running' });
    logs.set('ws-1', { log });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers NDJSON by default with every buffered entry and closes', async () => {
    const response = await app.inject({ url: '/v1/workspaces/ws-1/events' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = response.body.trimEnd().split('\n').map((l) => JSON.parse(l) as StreamEntry);
    expect(lines.map((e) => [e.seq, e.kind, e.message])).toEqual([
      [1, 'phase', 'pulling'],
      [2, 'pull', 'layer 1/2'],
      [3, 'phase', 'running'],
    ]);
  });

  it('uncached; only a follower asks reverse proxies not to buffer', async () => {
    const read = await app.inject({ url: '/v1/workspaces/ws-1/events' });
    expect(read.headers['cache-control']).toBe('no-cache');
    expect(read.headers['x-accel-buffering']).toBeUndefined();
    const log = new EventLog();
    log.append('phase', 'running');
    logs.set('ws-headers', { log });
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const pending = app.inject({ url: '/v1/workspaces/ws-headers/events?follow=true' });
      await turnsUntil(() => log.listenerCount === 1);
      logs.delete('ws-headers');
      vi.advanceTimersByTime(1000);
      const followed = await pending;
      expect(followed.headers['cache-control']).toBe('no-cache');
      expect(followed.headers['x-accel-buffering']).toBe('no');
    } finally {
      vi.useRealTimers();
    }
  });

  it('NDJSON ignores Last-Event-ID (only SSE clients resume)', async () => {
    const response = await app.inject({ url: '/v1/workspaces/ws-1/events', headers: { 'last-event-id': '2' } });
    expect(response.body.trimEnd().split('\n').map((l) => (JSON.parse(l) as StreamEntry).seq)).toEqual([1, 2, 3]);
  });

  it('answers SSE for Accept: text/event-stream and resumes after Last-Event-ID', async () => {
    const response = await app.inject({ url: '/v1/workspaces/ws-1/events', headers: { accept: 'text/event-stream', 'last-event-id': '1' } });
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const frames = response.body.split('\n\n').filter((f) => f !== '');
    expect(frames.map((f) => f.split('\n').slice(0, 2))).toEqual([
      ['id: 2', 'event: pull'],
      ['id: 3', 'event: phase'],
    ]);
  });

  it('following, streams what comes and ends when the workspace is deleted', async () => {
    const log = new EventLog();
    log.append('phase', 'running');
    logs.set('ws-2', { log });
    // The liveness check that notices the delete runs on an interval: on the test's clock.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const pending = app.inject({ url: '/v1/workspaces/ws-2/events?follow=true' });
      await turnsUntil(() => log.listenerCount === 1);
      log.append('phase', 'deleting');
      logs.delete('ws-2');
      vi.advanceTimersByTime(999);
      await nextTurn();
      expect(log.listenerCount).toBe(1);
      vi.advanceTimersByTime(1);
      const response = await pending;
      expect(response.body.trimEnd().split('\n').map((l) => (JSON.parse(l) as StreamEntry).message)).toEqual(['running', 'deleting']);
      expect(log.listenerCount).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
  it('answers SSE with no entries for a Last-Event-ID equal to the newest entry, and closes', async () => {
    const response = await app.inject({ url: '/v1/workspaces/ws-1/events', headers: { accept: 'text/event-stream', 'last-event-id': '3' } });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
  });

  it('answers 404 with the error body for an unknown workspace and 400 for a bad id or follow value', async () => {
    const missing = await app.inject({ url: '/v1/workspaces/nope/events?follow=true', headers: { accept: 'text/event-stream' } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: { code: 'NotFound', message: 'workspace nope does not exist', details: {} } });
    expect((await app.inject({ url: '/v1/workspaces/Bad_Id/events' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/workspaces/ws-1/events?follow=maybe' })).json()).toMatchObject({ error: { code: 'InvalidRequest' } });
  });
});

describe('a follower: liveness, release and shutdown', () => {
  /** A bare app serving `logs`, listening on a loopback port, with its server-side sockets. */
  async function listening(logs: Map<string, { log: EventLog }>) {
    const app = Fastify().setValidatorCompiler(TypeBoxValidatorCompiler).setErrorHandler(errorHandler).register(eventRoutes(sourceOf(logs)));
    const serverSockets: Socket[] = [];
    const responses: ServerResponse[] = [];
    app.server.on('connection', (socket: Socket) => serverSockets.push(socket));
    app.server.on('request', (_request: IncomingMessage, response: ServerResponse) => responses.push(response));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const follow = (id: string) => {
      const client = connect({ host: '127.0.0.1', port: (app.server.address() as AddressInfo).port });
      client.write(`GET /v1/workspaces/${id}/events?follow=true HTTP/1.1\r\nHost: x\r\n\r\n`);
      return client;
    };
    return { app, serverSockets, responses, follow };
  }

  it('stays open while its workspace exists, however many liveness checks pass', async () => {
    const log = new EventLog();
    log.append('phase', 'running');
    const logs = new Map([['ws-live', { log }]]);
    const app = Fastify().setValidatorCompiler(TypeBoxValidatorCompiler).setErrorHandler(errorHandler).register(eventRoutes(sourceOf(logs)));
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const pending = app.inject({ url: '/v1/workspaces/ws-live/events?follow=true' });
      await turnsUntil(() => log.listenerCount === 1);
      vi.advanceTimersByTime(10_000);
      await nextTurn();
      expect(log.listenerCount).toBe(1);
      logs.delete('ws-live');
      vi.advanceTimersByTime(1000);
      expect((await pending).body.trimEnd().split('\n')).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
      await app.close();
    }
  });

  it('lets go of the log and stops its liveness check when the client goes away', async () => {
    const log = new EventLog();
    log.append('phase', 'running');
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { app, responses, follow } = await listening(new Map([['ws-gone', { log }]]));
    try {
      const client = follow('ws-gone');
      await turnsUntil(() => log.listenerCount === 1);
      expect(vi.getTimerCount()).toBe(1);
      expect(responses[0]?.listenerCount('drain')).toBeGreaterThan(0);
      client.destroy();
      await turnsUntil(() => log.listenerCount === 0);
      expect(vi.getTimerCount()).toBe(0);
      expect(responses[0]?.listenerCount('drain')).toBe(0);
    } finally {
      vi.useRealTimers();
      await app.close();
    }
  });

  it('app.close() ends a follower after what was buffered', async () => {
    const log = new EventLog();
    log.append('phase', 'running');
    const app = Fastify().setValidatorCompiler(TypeBoxValidatorCompiler).setErrorHandler(errorHandler).register(eventRoutes(sourceOf(new Map([['ws-c', { log }]]))));
    const pending = app.inject({ url: '/v1/workspaces/ws-c/events?follow=true' });
    await turnsUntil(() => log.listenerCount === 1);
    await app.close();
    const response = await pending;
    expect(response.statusCode).toBe(200);
    expect((JSON.parse(response.body) as StreamEntry).message).toBe('running');
    expect(log.listenerCount).toBe(0);
  });

  it('a follower whose client stopped reading gets every entry, in order, once it reads again', async () => {
    const log = new EventLog();
    const { app, serverSockets, follow } = await listening(new Map([['ws-paused', { log }]]));
    const client = follow('ws-paused');
    client.pause();
    let received = '';
    try {
      await turnsUntil(() => log.listenerCount === 1);
      const chunk = 'x'.repeat(64 * 1024);
      let count = 0;
      for (; count < 1000 && !serverSockets[0]?.writableNeedDrain; count++) {
        log.append('bootstrap', chunk);
        await nextTurn();
      }
      expect(serverSockets[0]?.writableNeedDrain).toBe(true);
      log.append('phase', 'the last one');
      client.on('data', (data: Buffer) => (received += data.toString('utf8')));
      client.resume();
      await expect.poll(() => received.includes('"message":"the last one"'), { timeout: 20_000, interval: 10 }).toBe(true);
      const seqs = [...received.matchAll(/"seq":(\d+)/g)].map((m) => Number(m[1]));
      expect(seqs).toEqual(Array.from({ length: count + 1 }, (_, i) => i + 1));
    } finally {
      client.destroy();
      await app.close();
    }
  });

  it('app.close() cuts off a follower whose client stopped reading instead of waiting for it', async () => {
    const log = new EventLog();
    const { app, serverSockets, follow } = await listening(new Map([['ws-slow', { log }]]));
    const client = follow('ws-slow');
    client.pause();
    try {
      await turnsUntil(() => log.listenerCount === 1);
      const chunk = 'x'.repeat(64 * 1024);
      // Until the socket's buffers are full and the cursor waits for 'drain'.
      for (let i = 0; i < 1000 && !serverSockets[0]?.writableNeedDrain; i++) {
        log.append('bootstrap', chunk);
        await nextTurn();
      }
      expect(serverSockets[0]?.writableNeedDrain).toBe(true);
      await app.close();
      expect(serverSockets[0]?.destroyed).toBe(true);
    } finally {
      client.destroy();
    }
  });
});

describe('a follower on a real socket', () => {
  it('outlives the idle deadline that cuts off a silent connection opened after it', async () => {
    const logs = new Map<string, { log: EventLog }>();
    const log = new EventLog();
    log.append('phase', 'running');
    logs.set('ws-idle', { log });
    const app = Fastify({ connectionTimeout: 200 }).setValidatorCompiler(TypeBoxValidatorCompiler).setErrorHandler(errorHandler).register(eventRoutes(sourceOf(logs)));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    try {
      const follower = connect({ host: '127.0.0.1', port });
      let received = '';
      let followerClosed = false;
      follower.on('data', (chunk: Buffer) => { received += chunk.toString('utf8'); });
      follower.on('close', () => { followerClosed = true; });
      follower.write('GET /v1/workspaces/ws-idle/events?follow=true HTTP/1.1\r\nHost: x\r\n\r\n');
      await expect.poll(() => received, { timeout: 5000, interval: 5 }).toContain('"message":"running"');
      // Opened after the follower's last traffic, so its idle deadline falls later than the follower's would.
      const silent = connect({ host: '127.0.0.1', port });
      await new Promise((resolve) => silent.on('close', resolve));
      expect(followerClosed).toBe(false);
      log.append('phase', 'stopping');
      await expect.poll(() => received, { timeout: 5000, interval: 5 }).toContain('"message":"stopping"');
      follower.destroy();
    } finally {
      await app.close();
    }
  });
});

describe('GET /v1/workspaces/{id}/events (buildApp)', () => {
  let dir: string;
  let tokens: TokenFile;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cvm-events-unit-'));
    await writeFile(path.join(dir, 'token'), 'events-token-8c1f0e7a2b9d4c3e6f5a7b8c');
    tokens = new TokenFile(path.join(dir, 'token'), silent);
  });
  afterAll(async () => {
    tokens.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The real app, built inside each test: the route's schema is read when the app is built. */
  async function withApp(use: (app: App) => Promise<void>): Promise<void> {
    const config = loadConfig(['--state-dir', path.join(dir, 'state')], {});
    const engine = new DockerEngine({ dockerHost: `unix://${path.join(dir, 'no-engine.sock')}` });
    const manager = createManager(config, engine, silent);
    const app = await buildApp({
      logger: silent,
      engine,
      manager,
      metrics: new Metrics('0.0.0-test', () => manager.phases()),
      readiness: new Readiness(engine, { cvmEnabled: true, cvmRuntime: config.runtime, started: () => true }),
      api: 'full',
      tokens,
      started: () => true,
      cvmRuntime: config.runtime,
      cvmEnabled: true,
      preflight: daemonPreflight(config, engine),
      version: '0.0.0-test',
    });
    try {
      await use(app);
    } finally {
      await app.close();
    }
  }

  it('needs the bearer token, then answers 404 for an unknown workspace', async () => {
    await withApp(async (app) => {
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer events']) {
        const response = await app.inject({ url: '/v1/workspaces/ghost/events', headers: authorization ? { authorization } : {} });
        expect(response.statusCode, String(authorization)).toBe(401);
        expect(response.json()).toMatchObject({ error: { code: 'Unauthorized' } });
      }
      const response = await app.inject({ url: '/v1/workspaces/ghost/events?follow=true', headers: { authorization: 'Bearer events-token-8c1f0e7a2b9d4c3e6f5a7b8c' } });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: { code: 'NotFound' } });
    });
  });

  it('is in /openapi.json with its params, follow query, both media types, its error answers and the bearer scheme', async () => {
    await withApp(async (app) => {
      const doc = (await app.inject({ url: '/openapi.json' })).json<{
        paths: Record<
          string,
          Record<
            string,
            {
              summary?: string;
              description?: string;
              security?: unknown;
              parameters?: { in: string; name: string }[];
              responses: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
            }
          >
        >;
      }>();
      const operation = doc.paths['/v1/workspaces/{id}/events']?.['get'];
      expect(operation?.security).toEqual([{ bearer: [] }]);
      expect(operation?.parameters?.map((p) => `${p.in}:${p.name}`).sort()).toEqual(['header:last-event-id', 'path:id', 'query:follow']);
      expect(operation?.summary).toMatch(/^The build log/);
      // What a client needs to know about the stream, from the description's every part.
      for (const part of ['NDJSON (`application/x-ndjson`', '`Accept: text/event-stream` (`id: <seq>`', '`Last-Event-ID`. Without `follow=true`', 'until the client leaves or the workspace is deleted', 'gets one `skipped` entry']) {
        expect(operation?.description, part).toContain(part);
      }
      const ok = operation?.responses['200'];
      expect(ok?.description).toBe('The log entries, oldest first');
      expect(Object.keys(ok?.content ?? {}).sort()).toEqual(['application/x-ndjson', 'text/event-stream']);
      for (const media of Object.values(ok?.content ?? {})) expect(media.schema).toBeDefined();
      expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '401', '404', '503']));
    });
  });
});
