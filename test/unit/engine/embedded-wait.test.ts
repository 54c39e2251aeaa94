/** The embedded engine's waits on a fake clock: the start's deadline, a cancelled start, the wait for dockerd's API. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitForApi, withDeadline } from '../../../src/engine/embedded-wait.js';

describe('waiting in embedded mode', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives up at the deadline, not before, with the reason as it stands then', async () => {
    let lastWords = 'nothing yet';
    const never = new Promise<never>(() => undefined);
    const outcome = withDeadline(never, Date.now() + 300_000, () => `sysbox-mgr did not come up; its last error: ${lastWords}`).then(
      () => 'resolved',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    await vi.advanceTimersByTimeAsync(299_999);
    lastWords = "/var/lib/sysbox/docker can't be on overlayfs";
    let settled = false;
    void outcome.then(() => { settled = true; });
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBe("sysbox-mgr did not come up; its last error: /var/lib/sysbox/docker can't be on overlayfs");
  });

  it('passes on what comes in time, and ends at once when cancelled', async () => {
    await expect(withDeadline(Promise.resolve(42), Date.now() + 1000, () => 'late')).resolves.toBe(42);
    const cancel = new AbortController();
    const waiting = withDeadline(new Promise<never>(() => undefined), Date.now() + 300_000, () => 'late', cancel.signal);
    cancel.abort();
    await expect(waiting).rejects.toThrow('cancelled');
  });

  it("pings dockerd until it answers, saying every 5 s that it still waits", async () => {
    let answers = false;
    const slow: number[] = [];
    const ready = waitForApi(() => (answers ? Promise.resolve() : Promise.reject(new Error('ECONNREFUSED'))), {
      signal: new AbortController().signal,
      intervalMs: 250,
      onSlow: (seconds) => slow.push(seconds),
    });
    await vi.advanceTimersByTimeAsync(11_000);
    expect(slow).toEqual([5, 10]);
    answers = true;
    await vi.advanceTimersByTimeAsync(250);
    await expect(ready).resolves.toBeUndefined();
  });
});
