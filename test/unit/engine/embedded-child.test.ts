/**
 * The supervision of one embedded-engine child over a fake child process (a scripted spawn) and a fake clock: how
 * often it is asked whether it serves, restarts with backoff, a spawn that fails, stop's SIGKILL at the deadline.
 * One test spawns for real, to show what Node reports for a program that cannot be spawned.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChildControl, type ChildSpec, SpawnError, SupervisedChild } from '../../../src/engine/embedded-child.js';
import { relevelDockerd } from '../../../src/engine/embedded-logs.js';

class FakeChild extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  exitCode: number | null = null;
  readonly signals: string[] = [];

  constructor(
    readonly pid: number | undefined,
    private readonly obeysSigterm = true,
  ) {
    super();
  }

  kill(signal: string): boolean {
    this.signals.push(signal);
    if (signal === 'SIGKILL' || this.obeysSigterm) queueMicrotask(() => { this.exit(null, signal); });
    return true;
  }

  exit(code: number | null, signal: string | null = null): void {
    this.exitCode = code;
    this.emit('exit', code, signal);
  }
}

/** Spawns fake children; a group kill reaches the fake child that leads the group (never a real process). */
function fakeSpawner(make: (n: number) => FakeChild): { spawn: ChildControl; children: FakeChild[]; groupKills: string[] } {
  const children: FakeChild[] = [];
  const groupKills: string[] = [];
  const spawn: ChildControl = {
    spawn: () => {
      const child = make(children.length + 1);
      children.push(child);
      return child as unknown as ChildProcess;
    },
    killGroup: (pid, signal) => {
      groupKills.push(`${String(pid)} ${signal}`);
      const leader = children.find((c) => c.pid === pid);
      if (leader?.exitCode === null && leader.signals.length === 0) leader.kill(signal);
    },
  };
  return { spawn, children, groupKills };
}

const silent = pino({ level: 'silent' });

function spec(overrides: Partial<ChildSpec> = {}): ChildSpec {
  return { name: 'dockerd', command: 'dockerd', args: [], env: { PATH: '/usr/bin' }, relevel: relevelDockerd, serving: () => Promise.resolve(), ...overrides };
}

/** Lets queued promise callbacks run without moving the fake clock. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('a supervised child of the embedded engine', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('asks once per generation whether it serves, and reports each generation once: the first start is no restart', async () => {
    const serving = vi.fn(() => Promise.resolve());
    const generations: number[] = [];
    const { spawn, children } = fakeSpawner((n) => new FakeChild(100 + n));
    const child = new SupervisedChild(spec({ serving }), silent, { onDown: () => undefined, onServing: (g) => generations.push(g) }, spawn);

    await child.start();
    await settle();
    expect(serving).toHaveBeenCalledTimes(1);
    expect(generations).toEqual([1]);

    children[0]?.exit(1);
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(children).toHaveLength(2);
    expect(serving).toHaveBeenCalledTimes(2);
    expect(generations).toEqual([1, 2]);
  });

  it('after a death says why (with its last error line) and restarts only when the backoff has passed', async () => {
    const reasons: (string | null)[] = [];
    const { spawn, children } = fakeSpawner((n) => new FakeChild(200 + n));
    const child = new SupervisedChild(spec(), silent, { onDown: (r) => reasons.push(r) }, spawn);
    await child.start();
    children[0]?.stderr.write('failed to start daemon: pid file found, ensure docker is not running\n');
    await vi.advanceTimersByTimeAsync(0);
    children[0]?.exit(1);
    expect(reasons.at(-1)).toBe('dockerd exited (code 1): failed to start daemon: pid file found, ensure docker is not running; restarting in 1000 ms');
    await vi.advanceTimersByTimeAsync(999);
    expect(children).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(children).toHaveLength(2);
    await settle();
    expect(reasons.at(-1)).toBeNull();
    // The second death within a minute waits twice as long.
    children[1]?.exit(1);
    expect(reasons.at(-1)).toBe('dockerd exited (code 1); restarting in 2000 ms');
  });

  it('fails its start at once when the program cannot be spawned, and never restarts it', async () => {
    const { spawn, children } = fakeSpawner(() => {
      const child = new FakeChild(undefined);
      queueMicrotask(() => child.emit('error', Object.assign(new Error('spawn /usr/sbin/dockerd EACCES'), { code: 'EACCES' })));
      return child;
    });
    const reasons: (string | null)[] = [];
    const started = new SupervisedChild(spec({ command: '/usr/sbin/dockerd', serving: () => new Promise(() => undefined) }), silent, { onDown: (r) => reasons.push(r) }, spawn).start();
    await expect(started).rejects.toThrow(SpawnError);
    await expect(started).rejects.toThrow('dockerd (/usr/sbin/dockerd) could not be spawned: spawn /usr/sbin/dockerd EACCES');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(children).toHaveLength(1);
    expect(reasons).toEqual(['dockerd (/usr/sbin/dockerd) could not be spawned: spawn /usr/sbin/dockerd EACCES']);
  });

  it('kills a generation that does not serve in time, with its process group, and starts it again', async () => {
    const { spawn, children, groupKills } = fakeSpawner((n) => new FakeChild(500 + n));
    // The first generation hangs (as a sysbox fork now and then does); the second serves.
    const serving = (signal: AbortSignal): Promise<void> =>
      children.length === 1 ? new Promise((_, reject) => { signal.addEventListener('abort', () => { reject(new Error('ended')); }); }) : Promise.resolve();
    const generations: number[] = [];
    const started = new SupervisedChild(spec({ name: 'sysbox-fs', serving, servingTimeoutMs: 15_000 }), silent, { onDown: () => undefined, onServing: (g) => generations.push(g) }, spawn).start();
    await vi.advanceTimersByTimeAsync(14_999);
    expect(groupKills).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(groupKills[0]).toBe('501 SIGKILL');
    await vi.advanceTimersByTimeAsync(1000);
    await started;
    expect(children).toHaveLength(2);
    expect(generations).toEqual([2]);
  });

  it('stops with SIGTERM, and SIGKILL only at the deadline', async () => {
    const { spawn, children } = fakeSpawner((n) => new FakeChild(300 + n, false));
    const child = new SupervisedChild(spec(), silent, { onDown: () => undefined }, spawn);
    await child.start();
    let stopped = false;
    const stopping = child.stop(Date.now() + 5000).then(() => { stopped = true; });
    await vi.advanceTimersByTimeAsync(4999);
    expect(children[0]?.signals).toEqual(['SIGTERM']);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(children[0]?.signals).toEqual(['SIGTERM', 'SIGKILL']);
    // Stopped is stopped: its exit starts nothing.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(children).toHaveLength(1);
  });

  it('ends a start that the stop cuts short', async () => {
    const { spawn } = fakeSpawner((n) => new FakeChild(400 + n));
    const child = new SupervisedChild(spec({ serving: (signal) => new Promise((_, reject) => { signal.addEventListener('abort', () => { reject(new Error('aborted')); }); }) }), silent, { onDown: () => undefined }, spawn);
    const started = child.start();
    await child.stop(Date.now() + 1000);
    await expect(started).rejects.toThrow('dockerd was stopped');
  });
});

describe('a child that cannot be spawned, for real', () => {
  it('fails at once with the spawn error', async () => {
    const startedAt = Date.now();
    const child = new SupervisedChild(spec({ command: '/nonexistent/dockerd', serving: () => new Promise(() => undefined) }), silent, { onDown: () => undefined });
    await expect(child.start()).rejects.toThrow('dockerd (/nonexistent/dockerd) could not be spawned: spawn /nonexistent/dockerd ENOENT');
    expect(Date.now() - startedAt).toBeLessThan(5000);
  });
});
