/**
 * The build-log stream over a real socket: buildApp with the real manager (createManager, as daemon/wiring.ts builds it)
 * against the test engine, a bearer token file, and node:http clients following a busybox workspace's events.
 * The stream test: 50 concurrent followers, half leave mid-way, the rest read through a stop and a start, and every
 * subscription is released once they are gone.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/api/app.js';
import { TokenFile } from '../../src/api/auth.js';
import { Readiness } from '../../src/api/readiness.js';
import type { StreamEntry } from '../../src/api/routes/events.js';
import { daemonPreflight } from '../../src/daemon/host-readers.js';
import type { LogEvent } from '../../src/lifecycle/event-log.js';
import { Metrics } from '../../src/metrics.js';
import { requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { ManagerHarness, sleep } from '../support/manager.js';

const TOKEN = 'events-stream-test-token-5e0c9b1d7a3f';
const auth = { authorization: `Bearer ${TOKEN}` };

/** Polls `condition` until it holds; the error names what was awaited. */
async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One streaming HTTP client: NDJSON lines are parsed as they come; SSE is kept as text. */
class Follower {
  readonly entries: StreamEntry[] = [];
  text = '';
  status = 0;
  contentType = '';
  ended = false;
  private partial = '';
  private readonly req;
  private response: IncomingMessage | null = null;

  constructor(port: number, url: string, headers: Record<string, string>, onEntry?: (entry: StreamEntry, self: Follower) => void) {
    this.req = request({ host: '127.0.0.1', port, path: url, headers: { ...auth, ...headers }, agent: false }, (res) => {
      this.response = res;
      this.status = res.statusCode ?? 0;
      this.contentType = res.headers['content-type'] ?? '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.text += chunk;
        if (!this.contentType.startsWith('application/x-ndjson')) return;
        const lines = (this.partial + chunk).split('\n');
        this.partial = lines.pop() ?? '';
        for (const line of lines) {
          const entry = JSON.parse(line) as StreamEntry;
          this.entries.push(entry);
          onEntry?.(entry, this);
        }
      });
      res.on('end', () => {
        this.ended = true;
      });
      res.on('error', () => undefined);
    });
    this.req.on('error', () => undefined);
    this.req.end();
  }

  get phases(): string[] {
    return this.entries.filter((e) => e.kind === 'phase').map((e) => e.message);
  }

  /** Stops reading: the socket's buffers fill up and the server sees writes refused. */
  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  /** The client goes away mid-stream, as a closed browser tab or a killed `curl` does. */
  destroy(): void {
    this.req.destroy();
  }

  get destroyed(): boolean {
    return this.req.destroyed;
  }
}

/** Complete SSE frames: `id`, `event`, and the entry from `data`. */
function parseSse(text: string): { id: number; event: string; entry: StreamEntry }[] {
  return text
    .split('\n\n')
    .slice(0, -1)
    .map((frame) => {
      const field = (name: string): string => frame.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2) ?? '';
      return { id: Number(field('id')), event: field('event'), entry: JSON.parse(field('data')) as StreamEntry };
    });
}

describe('GET /v1/workspaces/{id}/events over a real socket', () => {
  let h: ManagerHarness;
  let app: App;
  let metrics: Metrics;
  let tokens: TokenFile;
  let tokenDir: string;
  let port: number;
  let appClosed = false;
  let id: string;
  const followers: Follower[] = [];
  const follow = (url: string, headers: Record<string, string> = {}, onEntry?: (entry: StreamEntry, self: Follower) => void): Follower => {
    const follower = new Follower(port, url, headers, onEntry);
    followers.push(follower);
    return follower;
  };
  const post = async (action: string): Promise<void> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${id}/${action}`, { method: 'POST', headers: auth });
    expect(response.status, await response.text()).toBe(202);
  };
  const log = () => {
    const ws = h.manager.workspace(id);
    if (!ws) throw new Error(`workspace ${id} is gone`);
    return ws.log;
  };

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    h = await ManagerHarness.create('events');
    id = h.id('stream');
    tokenDir = await mkdtemp(path.join(tmpdir(), 'cvm-events-token-'));
    await writeFile(path.join(tokenDir, 'token'), TOKEN);
    const logger = pino({ level: 'silent' });
    tokens = new TokenFile(path.join(tokenDir, 'token'), logger);
    metrics = new Metrics('0.0.0-test', () => h.manager.phases());
    app = await buildApp({
      logger,
      engine: h.engine,
      manager: h.manager,
      metrics,
      readiness: new Readiness(h.engine, { cvmEnabled: h.config.cvmEnabled, cvmRuntime: h.config.runtime, started: () => true }),
      api: 'full',
      tokens,
      started: () => true,
      cvmRuntime: h.config.runtime,
      cvmEnabled: h.config.cvmEnabled,
      preflight: daemonPreflight(h.config, h.engine),
      version: '0.0.0-test',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const f of followers) f.destroy();
    if (!appClosed) await app.close();
    tokens.close();
    await h.cleanup();
    await rm(tokenDir, { recursive: true, force: true });
  });

  it('follows a new workspace from its PUT until it is running', { timeout: 90_000 }, async () => {
    const put = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${id}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never' }),
    });
    expect(put.status, await put.text()).toBe(201);
    const follower = follow(`/v1/workspaces/${id}/events?follow=true`);
    await until('phase running on the stream', () => follower.phases.includes('running'));
    expect(follower.status).toBe(200);
    expect(follower.contentType).toMatch(/^application\/x-ndjson/);
    const seqs = follower.entries.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] ?? 0) + i));
    expect(follower.phases.at(-1)).toBe('running');
    expect(follower.entries.some((e) => e.kind === 'detect')).toBe(true);
    follower.destroy();
  });

  it('without follow answers what is buffered and closes; the metrics hook counts it', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${id}/events`, { headers: auth });
    expect(response.status).toBe(200);
    const lines = (await response.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as LogEvent);
    expect(lines).toEqual(log().snapshot());
    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/cvm_supervisor_http_request_duration_seconds_count\{[^}]*route="\/v1\/workspaces\/:id\/events"[^}]*status_code="200"[^}]*\} [1-9]/);
  });

  it('answers 401 without the token and 404 for an unknown workspace, before streaming', async () => {
    const anonymous = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${id}/events?follow=true`);
    expect(anonymous.status).toBe(401);
    const unknown = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${id}-nope/events?follow=true`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'NotFound' } });
  });

  it('50 followers, half leaving mid-way: the rest read a stop and a start in order, and no subscription leaks', { timeout: 120_000 }, async () => {
    const baseline = log().listenerCount; // the manager's own mirror into the daemon log
    const startSeq = log().snapshot().at(-1)?.seq ?? 0;
    const leaving: Follower[] = [];
    const staying: Follower[] = [];
    for (let i = 0; i < 50; i++) {
      if (i % 2 === 0) {
        staying.push(follow(`/v1/workspaces/${id}/events?follow=true`));
      } else {
        // Leaves on the first entry of the stop, while entries are flowing.
        leaving.push(follow(`/v1/workspaces/${id}/events?follow=true`, {}, (entry, self) => {
          if (entry.seq > startSeq) self.destroy();
        }));
      }
    }
    await until('all 50 followers to receive the buffered log', () => [...leaving, ...staying].every((f) => f.entries.at(-1)?.seq === startSeq));
    expect(log().listenerCount).toBe(baseline + 50);

    await post('stop');
    await until('the stop on every remaining stream', () => staying.every((f) => f.phases.at(-1) === 'stopped'));
    expect(leaving.every((f) => f.destroyed && f.entries.length > 0)).toBe(true);
    await until('the leavers to be unsubscribed', () => log().listenerCount === baseline + 25, 5_000);

    await post('start');
    await until('the start on every remaining stream', () => staying.every((f) => f.phases.at(-1) === 'running'));

    const entriesBySeq = new Map(log().snapshot().map((e) => [e.seq, e]));
    for (const follower of staying) {
      const seqs = follower.entries.map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] ?? 0) + i));
      // Exactly what the log holds, in its order: no entry lost, repeated or reordered.
      expect(follower.entries).toEqual(seqs.map((seq) => entriesBySeq.get(seq)));
      const afterStart = follower.entries.filter((e) => e.seq > startSeq && e.kind === 'phase').map((e) => e.message);
      expect(afterStart.slice(0, 2)).toEqual(['stopping', 'stopped']);
      expect(afterStart.at(-1)).toBe('running');
    }

    for (const follower of staying) follower.destroy();
    await until('every follower to be unsubscribed', () => log().listenerCount === baseline, 5_000);
    expect(baseline).toBe(1);
  });

  it('an SSE follower gets `event: phase` frames with seq ids and resumes after Last-Event-ID', { timeout: 90_000 }, async () => {
    const resumeAfter = (log().snapshot().at(-1)?.seq ?? 0) - 2;
    const sse = follow(`/v1/workspaces/${id}/events?follow=true`, { accept: 'text/event-stream', 'last-event-id': String(resumeAfter) });
    await until('the resumed frames', () => sse.text.includes('\n\n'));
    expect(sse.contentType).toMatch(/^text\/event-stream/);
    expect(/^id: (\d+)/.exec(sse.text)?.[1]).toBe(String(resumeAfter + 1));

    await post('restart');
    const phaseFrames = () => parseSse(sse.text).filter((f) => f.event === 'phase').map((f) => f.entry.message);
    await until('stopping, then running, as phase frames', () => phaseFrames().includes('stopping') && phaseFrames().at(-1) === 'running');
    const frames = parseSse(sse.text);
    expect(frames.map((f) => f.id)).toEqual(frames.map((_, i) => resumeAfter + 1 + i));
    expect(frames.every((f) => f.entry.seq === f.id && f.entry.kind === f.event)).toBe(true);
    sse.destroy();
    await until('the SSE follower to be unsubscribed', () => log().listenerCount === 1, 5_000);
  });

  it('a follower that stops reading falls behind the ring and is told once how many entries it missed', { timeout: 60_000 }, async () => {
    const slow = follow(`/v1/workspaces/${id}/events?follow=true`);
    const newest = (): number => log().snapshot().at(-1)?.seq ?? 0;
    const startSeq = newest();
    await until('the buffered log', () => slow.entries.at(-1)?.seq === startSeq);
    slow.pause();
    // 50 MB of bootstrap output, far more than the socket buffers and the 1000-entry ring hold.
    const line = 'x'.repeat(10_000);
    for (let i = 0; i < 5000; i++) {
      log().append('bootstrap', `${i} ${line}`);
      // A turn of the event loop between bursts, so that the follower's cursor writes until the socket is full.
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    slow.resume();
    await until('the slow follower to catch up', () => slow.entries.at(-1)?.seq === newest());
    const skipped = slow.entries.filter((e) => e.kind === 'skipped');
    expect(skipped).toHaveLength(1);
    const missed = (skipped[0]?.data as { skipped: number; fromSeq: number; toSeq: number } | undefined) ?? { skipped: 0, fromSeq: 0, toSeq: 0 };
    expect(missed.skipped).toBeGreaterThan(0);
    expect(missed.toSeq - missed.fromSeq + 1).toBe(missed.skipped);
    // The stream accounts for every seq once: entries, and the marker standing for the dropped ones.
    for (let i = 1; i < slow.entries.length; i++) {
      const [previous, entry] = [slow.entries[i - 1], slow.entries[i]];
      const expectedNext = (previous?.seq ?? 0) + 1;
      if (entry?.kind === 'skipped') expect(missed.fromSeq).toBe(expectedNext);
      else expect(entry?.seq).toBe(expectedNext);
    }
    expect(slow.entries.slice(-1000)).toEqual(log().snapshot());
    slow.destroy();
    await until('the slow follower to be unsubscribed', () => log().listenerCount === 1, 5_000);
  });

  it('a delete ends every follower, and app.close() ends followers of a live workspace', { timeout: 90_000 }, async () => {
    const deleted = [follow(`/v1/workspaces/${id}/events?follow=true`), follow(`/v1/workspaces/${id}/events?follow=true`, { accept: 'text/event-stream' })];
    const ws = h.manager.workspace(id);
    await until('both to subscribe', () => ws?.log.listenerCount === 3);
    const removed = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${id}`, { method: 'DELETE', headers: auth });
    expect(removed.status).toBe(202);
    await until('the deleted workspace to end both streams', () => deleted.every((f) => f.ended), 30_000);
    expect(deleted[0]?.phases).toContain('deleting');
    expect(ws?.log.listenerCount).toBe(1);

    const other = h.id('close');
    await h.manager.put(other, { image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never' });
    const open = [follow(`/v1/workspaces/${other}/events?follow=true`), follow(`/v1/workspaces/${other}/events?follow=true`)];
    await until('both to receive the log', () => open.every((f) => f.entries.length > 0));
    const closing = Date.now();
    appClosed = true;
    await Promise.race([
      app.close(),
      sleep(5_000).then(() => {
        throw new Error('app.close() waits for the open followers');
      }),
    ]);
    expect(Date.now() - closing).toBeLessThan(2_000);
    await until('app.close() to end both streams', () => open.every((f) => f.ended), 2_000);
    expect(h.manager.workspace(other)?.log.listenerCount).toBe(1);
  });
});
