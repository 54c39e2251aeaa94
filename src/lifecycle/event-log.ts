/**
 * A workspace's build log: phase changes, pull progress, detection results, bootstrap output, boot readiness, failures.
 * Bounded: the oldest entries are dropped, so a chatty bootstrap or a slow reader can't grow memory without bound.
 */

export type LogEventKind = 'phase' | 'pull' | 'detect' | 'bootstrap' | 'boot' | 'failure' | 'info';

export interface LogEvent {
  seq: number;
  time: string;
  kind: LogEventKind;
  message: string;
  data?: Record<string, unknown>;
}

export type LogListener = (event: LogEvent) => void;

export class EventLog {
  private readonly entries: LogEvent[] = [];
  private readonly listeners = new Set<LogListener>();
  private nextSeq = 1;

  constructor(private readonly capacity = 1000) {}

  append(kind: LogEventKind, message: string, data?: Record<string, unknown>): LogEvent {
    const event: LogEvent = { seq: this.nextSeq++, time: new Date().toISOString(), kind, message, ...(data ? { data } : {}) };
    this.entries.push(event);
    if (this.entries.length > this.capacity) this.entries.shift();
    for (const listener of this.listeners) listener(event);
    return event;
  }

  snapshot(): LogEvent[] {
    return [...this.entries];
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: LogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
