/**
 * Wraps an Engine so that every failed request is reported by operation (the method's name, a bounded set) for the
 * engine-errors metric. The adapter itself stays free of metrics.
 */
import { EngineError } from './engine-errors.js';
import type { Engine } from './types.js';

export function countingEngineErrors(engine: Engine, onError: (operation: string) => void): Engine {
  return new Proxy(engine, {
    get(target, property, receiver) {
      const member: unknown = Reflect.get(target, property, receiver);
      if (typeof member !== 'function') return member;
      const method = member as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        const result = method.apply(target, args);
        if (!(result instanceof Promise)) return result; // the event stream: its failures are the watcher's business
        return result.catch((err: unknown) => {
          if (err instanceof EngineError) onError(String(property));
          throw err;
        });
      };
    },
  });
}
