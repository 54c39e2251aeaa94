/**
 * The node's one puller: pulls of the same reference with the same credentials share one engine pull
 * (single-flight), so ten workspaces on a new image cost one download. An unreachable registry is retried with
 * capped exponential backoff and jitter; auth and not-found failures are final at once. A pull is aborted (its
 * HTTP stream closed) when every workspace waiting on it has gone.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Backoff, backoffMs } from '../backoff.js';
import { PullError } from '../engine/engine-errors.js';
import type { EngineImages, PullProgressEvent } from '../engine/types.js';
import type { FailureReason } from '../errors.js';
import type { RegistryAuth } from './registry-auth.js';

/** The reason code of a failed pull; only RegistryUnreachable is worth another attempt. */
export function classifyPullError(err: PullError): FailureReason {
  const text = err.message.toLowerCase();
  if (err.statusCode === 401 || err.statusCode === 403 || /unauthorized|authentication required|no basic auth credentials|denied|forbidden/.test(text)) {
    return 'ImagePullAuthFailed';
  }
  if (/no space left/.test(text)) return 'InsufficientStorage';
  if (err.statusCode === 404 || /manifest unknown|not found|does not exist|no such image/.test(text)) return 'ImageNotFound';
  return 'RegistryUnreachable';
}

export interface RetryPolicy extends Backoff {
  /** Attempts in all, the first included. */
  attempts: number;
}

/**
 * Half of each wait fixed and half random ("equal jitter"), so that nodes retrying together spread out yet each
 * waits a predictable minimum.
 */
export const DEFAULT_PULL_RETRY: RetryPolicy = { attempts: 4, baseMs: 1_000, maxMs: 10_000, spread: [0.5, 1] };

export type PullEvent =
  | { kind: 'attempt'; attempt: number; of: number }
  | { kind: 'retry'; attempt: number; delayMs: number; error: string }
  | { kind: 'progress'; progress: PullProgressEvent };

export interface PullRequest {
  /** The engine-ready reference (ImageReference.pullRef). */
  ref: string;
  auth?: RegistryAuth;
  signal: AbortSignal;
  onEvent: (event: PullEvent) => void;
}

interface Flight {
  readonly controller: AbortController;
  readonly listeners: Set<(event: PullEvent) => void>;
  /** The last event of each layer, replayed to a workspace that joins late so that its totals add up. */
  readonly layers: Map<string, PullProgressEvent>;
  /** Settles with the attempts taken; set right after the flight is registered. */
  done: Promise<number>;
}

export class PullCancelledError extends PullError {
  constructor(ref: string) {
    super(ref, null, 'pull cancelled');
    this.name = 'PullCancelledError';
  }
}

export class ImagePuller {
  private readonly flights = new Map<string, Flight>();

  constructor(
    private readonly engine: Pick<EngineImages, 'pullImage'>,
    private readonly retry: RetryPolicy = DEFAULT_PULL_RETRY,
    private readonly random: () => number = Math.random,
  ) {}

  /** Engine pulls running now (tests and metrics). */
  get inFlight(): number {
    return this.flights.size;
  }

  /** Resolves with the number of attempts the (shared) pull took. */
  pull(request: PullRequest): Promise<number> {
    const { ref, auth, signal, onEvent } = request;
    if (signal.aborted) return Promise.reject(new PullCancelledError(ref));
    // Credentials are part of the key: a workspace never rides on a pull made with someone else's credentials.
    const key = `${ref}\0${auth ? createHash('sha256').update(JSON.stringify(auth)).digest('hex') : ''}`;
    let joined = this.flights.get(key);
    if (joined) {
      for (const progress of joined.layers.values()) onEvent({ kind: 'progress', progress });
      joined.listeners.add(onEvent);
    } else {
      joined = this.start(key, ref, auth, onEvent);
    }
    const flight = joined;
    return new Promise<number>((resolve, reject) => {
      const leave = (): void => {
        flight.listeners.delete(onEvent);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        leave();
        if (flight.listeners.size === 0) {
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort();
        }
        reject(new PullCancelledError(ref));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.done.then(
        (attempts) => {
          leave();
          resolve(attempts);
        },
        (err: unknown) => {
          leave();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private start(key: string, ref: string, auth: RegistryAuth | undefined, first: (event: PullEvent) => void): Flight {
    const controller = new AbortController();
    const flight: Flight = { controller, listeners: new Set([first]), layers: new Map(), done: Promise.resolve(0) };
    this.flights.set(key, flight);
    flight.done = this.run(ref, auth, flight).finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    });
    return flight;
  }

  private async run(ref: string, auth: RegistryAuth | undefined, flight: Flight): Promise<number> {
    const { attempts } = this.retry;
    const signal = flight.controller.signal;
    const emit = (event: PullEvent): void => {
      for (const listener of flight.listeners) listener(event);
    };
    for (let attempt = 1; ; attempt++) {
      emit({ kind: 'attempt', attempt, of: attempts });
      try {
        await this.engine.pullImage(ref, {
          ...(auth ? { auth } : {}),
          signal,
          onProgress: (progress) => {
            if (progress.layer !== null) flight.layers.set(progress.layer, progress);
            emit({ kind: 'progress', progress });
          },
        });
        return attempt;
      } catch (err) {
        if (signal.aborted) throw new PullCancelledError(ref);
        if (!(err instanceof PullError) || classifyPullError(err) !== 'RegistryUnreachable') throw err;
        if (attempt >= attempts) {
          throw new PullError(ref, err.statusCode, `${err.message.replace(/^pull: /, '')} (gave up after ${attempt} attempts)`);
        }
        const delayMs = backoffMs(attempt, this.retry, this.random);
        emit({ kind: 'retry', attempt, delayMs, error: err.message.replace(/^pull: /, '') });
        try {
          await sleep(delayMs, undefined, { signal });
        } catch {
          throw new PullCancelledError(ref);
        }
      }
    }
  }
}
