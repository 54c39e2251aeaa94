/**
 * Wraps an Engine so that its `info()` answer is reused for a while. dockerd answers /info and /version by exec'ing
 * `runc --version` and `docker-init --version`: 20-70 ms on two cores, and every PUT read it twice (the precheck,
 * then the create), which was most of the daemon's overhead over a raw create+start. What the daemon reads from it
 * (the runtimes, the data root, the version) changes only when dockerd reloads its config or restarts, so an answer
 * up to `maxAgeMs` old is good enough: a runtime added to dockerd is seen within that time.
 */
import { reuseFor } from '../reuse-for.js';
import type { Engine } from './types.js';

export interface InfoCachingEngine extends Engine {
  /** The next info() asks the engine again (it restarted). */
  forgetInfo(): void;
}

export function cachingInfo(engine: Engine, maxAgeMs: number, now: () => number = Date.now): InfoCachingEngine {
  const info = reuseFor(maxAgeMs, () => engine.info(), now);
  const overrides: Record<string | symbol, unknown> = { info: () => info.get(), forgetInfo: () => { info.forget(); } };
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property in overrides) return overrides[property];
      const member: unknown = Reflect.get(target, property, receiver);
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  }) as InfoCachingEngine;
}
