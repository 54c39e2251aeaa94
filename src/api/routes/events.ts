/**
 * GET /v1/workspaces/{id}/events: a workspace's build log, as NDJSON or, with `Accept: text/event-stream`, as SSE.
 *
 * Readers share the workspace's bounded EventLog; nothing is queued per reader, so a slow one cannot grow memory.
 * Each keeps a cursor (the last seq it was sent) and pulls from the log while its socket accepts writes, then
 * waits for 'drain'. One that fell behind the ring gets a single `skipped` entry saying how many it missed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { WorkspaceNotFoundError } from '../../errors.js';
import type { EventLog, LogEvent, LogEventKind } from '../../lifecycle/event-log.js';
import { ErrorSchema, FollowQuery, LastEventIdHeaders, LogEntrySchema, SseFramesSchema, WorkspaceIdParams } from '../schemas.js';

export type StreamFormat = 'ndjson' | 'sse';
export type StreamEntry = Omit<LogEvent, 'kind'> & { kind: LogEventKind | 'skipped' };

const MEDIA_TYPES: Record<StreamFormat, string> = { ndjson: 'application/x-ndjson', sse: 'text/event-stream' };

/** How often a follower checks that its workspace still exists (a delete ends the stream). */
const LIVENESS_CHECK_MS = 1000;

export function formatEntry(entry: StreamEntry, format: StreamFormat): string {
  const json = JSON.stringify(entry);
  return format === 'ndjson' ? `${json}\n` : `id: ${entry.seq}\nevent: ${entry.kind}\ndata: ${json}\n\n`;
}

/** The buffered entries after seq `cursor`, and how many after it were dropped before the oldest buffered one. */
export function entriesAfter(buffered: readonly LogEvent[], cursor: number): { skipped: number; entries: LogEvent[] } {
  const oldest = buffered[0]?.seq;
  if (oldest === undefined) return { skipped: 0, entries: [] };
  return { skipped: Math.max(0, oldest - cursor - 1), entries: buffered.slice(Math.max(0, cursor + 1 - oldest)) };
}

/** Stands for entries fromSeq..toSeq; it carries toSeq, so an SSE client resuming from it goes on after the gap. */
function skippedEntry(fromSeq: number, toSeq: number): StreamEntry {
  const count = toSeq - fromSeq + 1;
  return {
    seq: toSeq,
    time: new Date().toISOString(),
    kind: 'skipped',
    message: `${count} entries were dropped from the buffer before this reader got them`,
    data: { skipped: count, fromSeq, toSeq },
  };
}

function newestSeq(log: EventLog): number {
  return log.snapshot().at(-1)?.seq ?? 0;
}

/**
 * Where a reader starts: after `Last-Event-ID` when it names a seq this log has reached (older than the buffer
 * gives a `skipped` entry), else at the oldest buffered entry. An id beyond the newest came from an earlier log
 * (a restarted daemon, a recreated workspace), so that reader gets everything.
 */
export function startCursor(log: EventLog, lastEventId: string | undefined): number {
  const buffered = log.snapshot();
  const oldest = buffered[0]?.seq ?? 1;
  // Number() ignores the same blanks around the digits that trim() drops.
  const resumeAt = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId.trim()) ? Number(lastEventId) : null;
  if (resumeAt !== null && resumeAt <= (buffered.at(-1)?.seq ?? 0)) return resumeAt;
  return oldest - 1;
}

/** Where a cursor writes: `write` returns false when the socket's buffer is full (then wait for 'drain'). */
export interface EventSink {
  write(text: string): boolean;
  end(): void;
}

/**
 * One reader's position in an EventLog. Following, it listens to the log only to learn that there is more and
 * pulls the entries itself, so a blocked reader holds nothing but its seq. Not following, it writes what was
 * buffered when it started and ends.
 */
export class EventCursor {
  private blocked = false;
  private scheduled = false;
  private done = false;
  private unsubscribe: (() => void) | null = null;
  /** The last seq to write before ending; null while following. */
  private until: number | null = null;

  constructor(
    private readonly log: EventLog,
    private readonly sink: EventSink,
    private readonly format: StreamFormat,
    private lastSeq: number,
    private readonly follow: boolean,
  ) {}

  start(): void {
    if (this.follow) {
      this.unsubscribe = this.log.subscribe(() => {
        this.schedule();
      });
    } else {
      this.until = newestSeq(this.log);
    }
    this.pump();
  }

  /** The sink accepts writes again ('drain'): carry on from the cursor. */
  drained(): void {
    this.blocked = false;
    this.pump();
  }

  /** Stops following: writes what is buffered up to now, then ends the sink. */
  finish(): void {
    this.stopListening();
    this.until = newestSeq(this.log);
    this.pump();
  }

  /** The reader is gone or being cut off: let go of the log at once, write nothing more. */
  close(): void {
    this.done = true;
    this.stopListening();
  }

  /** Waiting for the sink to drain. */
  get isBlocked(): boolean {
    return this.blocked;
  }

  /** Appends come in bursts (bootstrap output) and run the producer's code: pull once, after it returns. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.blocked || this.done) return;
    const { skipped, entries } = entriesAfter(this.log.snapshot(), this.lastSeq);
    const pending = skipped > 0 ? [skippedEntry(this.lastSeq + 1, this.lastSeq + skipped), ...entries] : entries;
    for (const entry of pending) {
      if (this.until !== null && entry.seq > this.until) break;
      this.lastSeq = entry.seq;
      if (!this.sink.write(formatEntry(entry, this.format))) {
        this.blocked = true;
        return;
      }
    }
    if (this.until !== null) {
      this.close();
      this.sink.end();
    }
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}

/** What the route needs of the manager: the live workspace by id, undefined once it is deleted. */
export interface EventLogSource {
  workspace(id: string): { readonly log: EventLog } | undefined;
}

interface OpenStream {
  cursor: EventCursor;
  response: ServerResponse;
}

/**
 * Streams `log` to the response until the cursor ends it, the client goes away, or (following) `isGone()` says
 * the workspace was deleted. Everything is released on 'close' of either the request or the response.
 */
function serveStream(
  request: IncomingMessage,
  response: ServerResponse,
  cursor: EventCursor,
  options: { follow: boolean; isGone: () => boolean; open: Set<OpenStream> },
): void {
  const stream: OpenStream = { cursor, response };
  const liveness = options.follow
    ? setInterval(() => {
        if (options.isGone()) cursor.finish();
      }, LIVENESS_CHECK_MS)
    : null;
  const onDrain = (): void => {
    cursor.drained();
  };
  const release = (): void => {
    if (liveness) clearInterval(liveness);
    cursor.close();
    response.removeListener('drain', onDrain);
    options.open.delete(stream);
  };
  options.open.add(stream);
  response.on('drain', onDrain);
  response.once('close', release);
  request.once('close', release);
  // A write to a socket the client reset fails here; 'close' follows and releases.
  response.on('error', () => undefined);
  cursor.start();
}

/** Lifts the socket's idle deadline; app.inject's stand-in socket has no timers, hence the optional call. */
function keepOpen(socket: { setTimeout?: (ms: number) => unknown }): void {
  socket.setTimeout?.(0);
}

export function eventRoutes(source: EventLogSource): FastifyPluginCallbackTypebox {
  return (app, _options, done) => {
    const open = new Set<OpenStream>();
    // Followers never end on their own, and app.close() waits for every open response: end them first.
    app.addHook('preClose', (hookDone) => {
      for (const { cursor, response } of open) {
        cursor.close();
        // One that cannot flush would hold the close until the client reads; it loses what was not sent.
        if (cursor.isBlocked) response.destroy();
        else response.end();
      }
      hookDone();
    });

    app.get(
      '/v1/workspaces/:id/events',
      {
        schema: {
          summary: 'The build log: phase changes, pull progress, detection, bootstrap output, failures',
          description:
            'NDJSON (`application/x-ndjson`, one LogEntry per line) by default; server-sent events with ' +
            '`Accept: text/event-stream` (`id: <seq>`, `event: <kind>`, `data: <LogEntry>`), which honour ' +
            '`Last-Event-ID`. Without `follow=true` it returns what is buffered and closes; with it, it stays open ' +
            'until the client leaves or the workspace is deleted. The buffer is bounded: a reader that falls behind ' +
            'gets one `skipped` entry saying how many entries it missed.',
          params: WorkspaceIdParams,
          querystring: FollowQuery,
          headers: LastEventIdHeaders,
          response: {
            200: {
              description: 'The log entries, oldest first',
              content: { [MEDIA_TYPES.ndjson]: { schema: LogEntrySchema }, [MEDIA_TYPES.sse]: { schema: SseFramesSchema } },
            },
            400: ErrorSchema,
            401: ErrorSchema,
            404: ErrorSchema,
            503: ErrorSchema,
          },
        },
      },
      (request, reply) => {
        const { id } = request.params;
        const workspace = source.workspace(id);
        if (!workspace) throw new WorkspaceNotFoundError(id);
        const format: StreamFormat = request.headers.accept?.includes(MEDIA_TYPES.sse) ? 'sse' : 'ndjson';
        const follow = request.query.follow ?? false;
        const after = startCursor(workspace.log, format === 'sse' ? request.headers['last-event-id'] : undefined);

        // From here the handler writes the response itself; fastify's onResponse hooks still run on 'finish'.
        reply.hijack();
        const response = reply.raw;
        response.writeHead(200, {
          'content-type': `${MEDIA_TYPES[format]}; charset=utf-8`,
          'cache-control': 'no-cache',
          // Reverse proxies (nginx) would otherwise hold back a follower's entries.
          ...(follow ? { 'x-accel-buffering': 'no' } : {}),
        });
        if (follow) {
          // A follower passed auth and may wait long between entries: the idle deadline (app.ts) is for callers
          // that never finish a request, not for this one.
          keepOpen(request.raw.socket);
          response.flushHeaders();
        }
        const sink: EventSink = { write: (text) => response.write(text), end: () => response.end() };
        serveStream(request.raw, response, new EventCursor(workspace.log, sink, format, after, follow), {
          follow,
          isGone: () => source.workspace(id) !== workspace,
          open,
        });
      },
    );
    done();
  };
}
