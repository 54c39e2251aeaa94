/**
 * The one retry backoff of the daemon (crash restarts, pull retries, the waits for the engine, embedded restarts):
 * `baseMs` doubling with each attempt, capped at `maxMs`, then scaled by a random factor within `spread` so that
 * many retrying at once drift apart. Pure; `random` is injectable for tests.
 */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  /** The random factor's range; none by default ([1, 1]). */
  spread?: readonly [number, number];
}

/** The delay before retry `attempt` (1-based: the first retry waits about `baseMs`). */
export function backoffMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const capped = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(attempt - 1, 0));
  const [low, high] = backoff.spread ?? [1, 1];
  return Math.round(capped * (low + (high - low) * random()));
}

/**
 * Waits `ms`, or less when `signal` aborts (it then resolves all the same: callers check the signal). On the global
 * setTimeout, so that a test's fake clock controls it.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
