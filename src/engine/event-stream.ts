/** The engine's event stream format: one JSON object a line, resumable with `since`. Pure. */
import type { EngineEvent } from './types.js';

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
}

/** Docker's nanosecond timestamps as the `since` query wants them: "seconds.nanoseconds". */
export function sinceParam(timeNano: bigint): string {
  const seconds = timeNano / 1_000_000_000n;
  const nanos = timeNano % 1_000_000_000n;
  return `${seconds}.${nanos.toString().padStart(9, '0')}`;
}

export function parseEventLine(line: string): EngineEvent {
  const raw = JSON.parse(line) as RawEvent;
  // timeNano (~1.8e18) does not fit a double exactly; read its digits from the text instead.
  const digits = /"timeNano":\s*(\d+)/.exec(line)?.[1];
  return {
    type: raw.Type ?? '',
    action: raw.Action ?? '',
    id: raw.Actor?.ID ?? '',
    attributes: raw.Actor?.Attributes ?? {},
    timeNano: digits !== undefined ? BigInt(digits) : BigInt(raw.time ?? 0) * 1_000_000_000n,
  };
}
