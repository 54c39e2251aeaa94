/**
 * Follows the engine's event stream for the daemon's containers and reports deaths. On a dropped connection it
 * reconnects with `since` set to the last event seen, so nothing that happened in between is missed.
 */
import type { Logger } from 'pino';
import { backoffMs, pause } from '../backoff.js';
import { madeBy, WORKSPACE_LABEL } from '../container/labels.js';
import type { EngineEvent, EngineEvents } from '../engine/types.js';

export interface ContainerDeath {
  workspaceId: string;
  containerId: string;
}

export class ContainerWatcher {
  private readonly controller = new AbortController();
  private cursor: bigint;
  /** Events already handled at the cursor's timestamp; `since` replays them after a reconnect. */
  private seenAtCursor = new Set<string>();
  private loop: Promise<void> | null = null;
  /** Cuts the reconnect backoff short. */
  private wake = new AbortController();

  constructor(
    private readonly engine: EngineEvents,
    /** The daemon's --instance: another daemon's containers on this engine are not followed. */
    private readonly instance: string | undefined,
    private readonly onDeath: (death: ContainerDeath) => void,
    private readonly log: Logger,
    /** The stream broke: events may be lost for good (an engine restart forgets its history). */
    private readonly onStreamLost: () => void = () => undefined,
    private readonly reconnectDelayMs = 1000,
  ) {
    this.cursor = BigInt(Date.now()) * 1_000_000n;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** The engine answers again: reconnect now rather than at the end of the backoff. */
  reconnectNow(): void {
    this.wake.abort();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    let failures = 0;
    while (!this.stopped()) {
      // One controller per connection, so a long engine outage does not pile listeners onto the daemon's signal.
      const connection = new AbortController();
      const abort = (): void => {
        connection.abort();
      };
      signal.addEventListener('abort', abort, { once: true });
      try {
        for await (const event of this.engine.events({
          since: this.cursor,
          filters: { type: ['container'], event: ['die'], label: [WORKSPACE_LABEL] },
          signal: connection.signal,
        })) {
          if (failures > 0) this.log.info('engine event stream is back');
          failures = 0;
          this.handle(event);
        }
      } catch (err) {
        if (this.stopped()) break;
        if (failures === 0) this.log.warn({ err }, 'engine event stream failed; reconnecting with backoff');
        // Every time: a stream that reconnected but carried no event yet still counts as failing here.
        this.onStreamLost();
        failures += 1;
      } finally {
        signal.removeEventListener('abort', abort);
      }
      if (this.stopped()) break;
      this.wake = new AbortController();
      await pause(backoffMs(failures + 1, { baseMs: this.reconnectDelayMs, maxMs: 30_000 }), AbortSignal.any([signal, this.wake.signal]));
    }
  }

  /** A method, not the inline property, so the compiler does not narrow it across the awaits above. */
  private stopped(): boolean {
    return this.controller.signal.aborted;
  }

  private handle(event: EngineEvent): void {
    const key = `${event.id}/${event.action}`;
    if (event.timeNano < this.cursor || (event.timeNano === this.cursor && this.seenAtCursor.has(key))) return;
    if (event.timeNano > this.cursor) {
      this.cursor = event.timeNano;
      this.seenAtCursor = new Set();
    }
    this.seenAtCursor.add(key);
    const workspaceId = event.attributes[WORKSPACE_LABEL];
    // An event's attributes carry the container's labels.
    if (event.action !== 'die' || !workspaceId || !madeBy(event.attributes, this.instance)) return;
    this.onDeath({ workspaceId, containerId: event.id });
  }
}
