/** Waiting in embedded mode: for dockerd's API, and for anything within the start's deadline. */
import { wait } from './embedded-child.js';

/** Pings until the API answers; logs every 5 s while it does not; stops when the signal aborts. */
export async function waitForApi(ping: () => Promise<unknown>, options: { signal: AbortSignal; intervalMs: number; onSlow: (seconds: number) => void }): Promise<void> {
  const startedAt = Date.now();
  let nextReport = startedAt + 5_000;
  for (;;) {
    try {
      await ping();
      return;
    } catch (err) {
      if (options.signal.aborted) throw err;
      if (Date.now() >= nextReport) {
        options.onSlow(Math.round((Date.now() - startedAt) / 1000));
        nextReport = Date.now() + 5_000;
      }
      await wait(options.intervalMs, options.signal);
    }
  }
}

/**
 * The promise, or a rejection with describe()'s message once `deadline` (epoch ms) has passed, or at once when
 * `cancel` aborts.
 */
export async function withDeadline<T>(promise: Promise<T>, deadline: number, describe: () => string, cancel?: AbortSignal): Promise<T> {
  const timer = new AbortController();
  const ends = cancel === undefined ? timer.signal : AbortSignal.any([timer.signal, cancel]);
  const late = wait(Math.max(0, deadline - Date.now()), ends).then(() => {
    if (cancel?.aborted === true) throw new Error('cancelled');
    if (!timer.signal.aborted) throw new Error(describe());
  });
  try {
    return await Promise.race([promise, late.then(() => promise)]);
  } finally {
    timer.abort();
  }
}
