/**
 * Startup steps that must not fail for good: loading the workspaces (a list call that times out, an embedded
 * dockerd that died right after its first answer, a state dir that cannot be read yet) and declaring the boot
 * workspace. Each is tried again with backoff until it succeeds or the daemon shuts down; meanwhile `/readyz` says
 * which step failed and why.
 */
import type { Logger } from 'pino';
import { type Backoff, backoffMs, pause } from '../backoff.js';

/** 1 s doubling to 30 s: a daemon whose engine or disk recovers picks up within half a minute. */
const STARTUP_RETRY: Backoff = { baseMs: 1000, maxMs: 30_000 };

export interface RetryOptions {
  logger: Logger;
  /** Aborted at shutdown: the wait ends and the step is given up (the returned promise rejects). */
  signal: AbortSignal;
  /** Why the step has not succeeded yet (null once it did); readiness shows it. */
  report: (problem: string | null) => void;
  backoff?: Backoff;
}

export async function retryUntilDone(what: string, step: () => Promise<void>, options: RetryOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await step();
      if (attempt > 1) options.logger.info({ attempts: attempt }, `${what}: done`);
      options.report(null);
      return;
    } catch (err) {
      if (options.signal.aborted) throw err;
      const delayMs = backoffMs(attempt, options.backoff ?? STARTUP_RETRY);
      const reason = err instanceof Error ? err.message : String(err);
      options.logger.error({ err: reason, attempt, retryInMs: delayMs }, `${what} failed; trying again`);
      options.report(`${what} failed (attempt ${attempt}, next in ${Math.round(delayMs / 1000)} s): ${reason}`);
      if (await pausedUntilAborted(delayMs, options.signal)) throw err;
    }
  }
}

/** Waits `ms`; true when the wait ended because the daemon shuts down. */
async function pausedUntilAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  await pause(ms, signal);
  return signal.aborted;
}
