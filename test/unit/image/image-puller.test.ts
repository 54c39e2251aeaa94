/**
 * The puller's retry, single-flight and cancellation rules. A scripted engine stands in for dockerd and the
 * registry so that failures and timings are deterministic; test/integration/registry.test.ts proves the same
 * against a real registry.
 */
import { describe, expect, it, vi } from 'vitest';
import { PullError } from '../../../src/engine/engine-errors.js';
import type { Engine, PullOptions } from '../../../src/engine/types.js';
import { backoffMs } from '../../../src/backoff.js';
import { classifyPullError, DEFAULT_PULL_RETRY, ImagePuller, PullCancelledError, type PullEvent } from '../../../src/image/image-puller.js';

type Step = (options: PullOptions) => Promise<void>;

/** pullImage runs the scripted steps in order, recording each call. */
function scriptedEngine(steps: Step[]): { engine: Engine; calls: PullOptions[] } {
  const calls: PullOptions[] = [];
  const engine = {
    pullImage: (_ref: string, options: PullOptions = {}) => {
      calls.push(options);
      const step = steps.shift();
      if (!step) return Promise.reject(new Error('no more scripted pulls'));
      return step(options);
    },
  } as unknown as Engine;
  return { engine, calls };
}

const refused: Step = () => Promise.reject(new PullError('r', 500, 'dial tcp 127.0.0.1:5999: connect: connection refused'));
const ok: Step = () => Promise.resolve();
/** A pull that runs until its signal aborts, as dockerd's stream does. */
const hanging: Step = (options) =>
  new Promise((_resolve, reject) => {
    options.signal?.addEventListener('abort', () => {
      reject(new PullError('r', null, 'aborted'));
    });
  });
const fast = { attempts: 3, baseMs: 5, maxMs: 20, spread: [0.5, 1] as const };

describe('DEFAULT_PULL_RETRY', () => {
  it('doubles, caps at 10 s, and keeps half of the delay fixed', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, DEFAULT_PULL_RETRY, () => 0))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, DEFAULT_PULL_RETRY, () => 1))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});

describe('ImagePuller', () => {
  it('retries an unreachable registry, then succeeds', async () => {
    const { engine, calls } = scriptedEngine([refused, refused, ok]);
    const events: PullEvent[] = [];
    const attempts = await new ImagePuller(engine, fast).pull({ ref: 'r', signal: new AbortController().signal, onEvent: (e) => events.push(e) });
    expect(attempts).toBe(3);
    expect(calls).toHaveLength(3);
    expect(events.filter((e) => e.kind === 'retry')).toHaveLength(2);
  });

  it('gives up after the last attempt with the unreachable error', async () => {
    const { engine, calls } = scriptedEngine([refused, refused, refused, ok]);
    const pull = new ImagePuller(engine, fast).pull({ ref: 'r', signal: new AbortController().signal, onEvent: () => undefined });
    await expect(pull).rejects.toThrow(/connection refused \(gave up after 3 attempts\)/);
    expect(calls).toHaveLength(3);
  });

  it.each([
    ['auth', new PullError('r', 500, 'unauthorized: authentication required')],
    ['not found', new PullError('r', 404, 'manifest unknown')],
  ])('does not retry %s failures', async (_name, error) => {
    const { engine, calls } = scriptedEngine([() => Promise.reject(error), ok]);
    await expect(new ImagePuller(engine, fast).pull({ ref: 'r', signal: new AbortController().signal, onEvent: () => undefined })).rejects.toBe(error);
    expect(calls).toHaveLength(1);
  });

  it('shares one engine pull between concurrent requests for the same reference and credentials', async () => {
    let release = (): void => undefined;
    const { engine, calls } = scriptedEngine([() => new Promise<void>((resolve) => (release = resolve)), ok]);
    const puller = new ImagePuller(engine, fast);
    const signal = new AbortController().signal;
    const pulls = Array.from({ length: 10 }, () => puller.pull({ ref: 'r', signal, onEvent: () => undefined }));
    expect(puller.inFlight).toBe(1);
    release();
    expect(await Promise.all(pulls)).toEqual(Array(10).fill(1));
    expect(calls).toHaveLength(1);
    expect(puller.inFlight).toBe(0);
  });

  it('does not share a pull made with other credentials', async () => {
    const { engine, calls } = scriptedEngine([ok, ok]);
    const puller = new ImagePuller(engine, fast);
    const signal = new AbortController().signal;
    await Promise.all([
      puller.pull({ ref: 'r', signal, onEvent: () => undefined, auth: { username: 'a', password: 'x', serveraddress: 'r.io' } }),
      puller.pull({ ref: 'r', signal, onEvent: () => undefined }),
    ]);
    expect(calls).toHaveLength(2);
  });

  it('keeps the shared pull while one waiter remains, and aborts the engine stream when the last one leaves', async () => {
    const { engine, calls } = scriptedEngine([hanging]);
    const puller = new ImagePuller(engine, fast);
    const first = new AbortController();
    const second = new AbortController();
    const a = puller.pull({ ref: 'r', signal: first.signal, onEvent: () => undefined });
    const b = puller.pull({ ref: 'r', signal: second.signal, onEvent: () => undefined });
    first.abort();
    await expect(a).rejects.toBeInstanceOf(PullCancelledError);
    expect(calls[0]?.signal?.aborted).toBe(false);
    second.abort();
    await expect(b).rejects.toBeInstanceOf(PullCancelledError);
    expect(calls[0]?.signal?.aborted).toBe(true);
    expect(puller.inFlight).toBe(0);
  });

  it('stops waiting out a backoff when cancelled', async () => {
    const { engine, calls } = scriptedEngine([refused, ok]);
    const puller = new ImagePuller(engine, { attempts: 3, baseMs: 60_000, maxMs: 60_000 });
    const cancel = new AbortController();
    const pull = puller.pull({ ref: 'r', signal: cancel.signal, onEvent: (e) => {
      if (e.kind === 'retry') cancel.abort();
    } });
    await expect(pull).rejects.toBeInstanceOf(PullCancelledError);
    expect(calls).toHaveLength(1);
  });
});

describe('classifyPullError', () => {
  it.each([
    [401, 'whatever the registry says', 'ImagePullAuthFailed'],
    [403, 'whatever the registry says', 'ImagePullAuthFailed'],
    [null, 'denied: requested access to the resource is denied', 'ImagePullAuthFailed'],
    [500, 'write /var/lib/docker/tmp: no space left on device', 'InsufficientStorage'],
    [404, 'whatever the registry says', 'ImageNotFound'],
    [null, 'manifest for r:1 not found: manifest unknown', 'ImageNotFound'],
    [500, 'dial tcp: i/o timeout', 'RegistryUnreachable'],
  ] as const)('status %s with %j is %s', (status, message, reason) => {
    expect(classifyPullError(new PullError('r', status, message))).toBe(reason);
  });
});

describe('ImagePuller: requests and cancellation', () => {
  it('refuses a request whose signal is already aborted, without asking the engine', async () => {
    const { engine, calls } = scriptedEngine([ok]);
    const pull = new ImagePuller(engine, fast).pull({ ref: 'r', signal: AbortSignal.abort(), onEvent: () => undefined });
    await expect(pull).rejects.toThrow(new PullCancelledError('r'));
    await expect(pull).rejects.toMatchObject({ name: 'PullCancelledError', message: 'pull: pull cancelled' });
    expect(calls).toEqual([]);
  });

  it('passes the credentials to the engine', async () => {
    const { engine, calls } = scriptedEngine([ok]);
    const auth = { username: 'a', password: 'x', serveraddress: 'r.io' };
    await new ImagePuller(engine, fast).pull({ ref: 'r', auth, signal: new AbortController().signal, onEvent: () => undefined });
    expect(calls.map((c) => c.auth)).toEqual([auth]);
  });

  it('says why it retries and why it gave up without the engine error prefix', async () => {
    const { engine } = scriptedEngine([refused, refused]);
    const events: PullEvent[] = [];
    const pull = new ImagePuller(engine, { attempts: 2, baseMs: 1, maxMs: 1 }).pull({ ref: 'r', signal: new AbortController().signal, onEvent: (e) => events.push(e) });
    await expect(pull).rejects.toThrow(new PullError('r', 500, 'dial tcp 127.0.0.1:5999: connect: connection refused (gave up after 2 attempts)'));
    expect(events.filter((e) => e.kind === 'retry')).toEqual([{ kind: 'retry', attempt: 1, delayMs: 1, error: 'dial tcp 127.0.0.1:5999: connect: connection refused' }]);
  });

  it('starts a new engine pull for a request that comes after every waiter of the last one left', async () => {
    const { engine, calls } = scriptedEngine([hanging, hanging, ok]);
    const puller = new ImagePuller(engine, fast);
    const first = new AbortController();
    const a = puller.pull({ ref: 'r', signal: first.signal, onEvent: () => undefined });
    first.abort();
    const second = new AbortController();
    const b = puller.pull({ ref: 'r', signal: second.signal, onEvent: () => undefined });
    await expect(a).rejects.toBeInstanceOf(PullCancelledError);
    expect(calls).toHaveLength(2);
    // The aborted pull ending must not unregister the new one: a third request joins it.
    await vi.waitFor(() => {
      expect(calls[0]?.signal?.aborted).toBe(true);
    });
    await new Promise((resolve) => setImmediate(resolve));
    const c = puller.pull({ ref: 'r', signal: second.signal, onEvent: () => undefined });
    expect(calls).toHaveLength(2);
    expect(puller.inFlight).toBe(1);
    second.abort();
    await expect(b).rejects.toBeInstanceOf(PullCancelledError);
    await expect(c).rejects.toBeInstanceOf(PullCancelledError);
  });
});
