/** Follows the test engine's event stream over node:http, so a test can act at an exact moment of an operation. */
import { type ClientRequest, request } from 'node:http';
import { connectionOf, testDockerHost } from './engine.js';

export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

export class EngineEvents {
  private readonly req: ClientRequest;
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  readonly ready: Promise<void>;

  constructor(filters: Record<string, string[]>) {
    const path = `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.req = request({ ...connectionOf(testDockerHost()), method: 'GET', path }, (res) => {
      markReady();
      let buffered = '';
      res.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) for (const l of this.listeners) l(JSON.parse(line) as EngineEvent);
        }
      });
    });
    this.req.on('error', () => undefined);
    this.req.end();
  }

  onEvent(listener: (e: EngineEvent) => void): void {
    this.listeners.add(listener);
  }

  /** Calls `act` synchronously on the first matching event, then resolves with the event. */
  once(match: (e: EngineEvent) => boolean, act: (e: EngineEvent) => void, timeoutMs: number, what: string): Promise<EngineEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no engine event "${what}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (e: EngineEvent): void => {
        if (!match(e)) return;
        act(e);
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(e);
      };
      this.listeners.add(listener);
    });
  }

  close(): void {
    this.req.destroy();
  }
}
