/**
 * Reads the engine's pull stream. Unlike dockerode's followProgress, an `{"error": ...}` line is a failure even
 * though the HTTP stream itself ends normally.
 */
import type { Readable } from 'node:stream';
import { PullError } from './engine-errors.js';
import { ndjsonLines } from './ndjson.js';
import type { PullOptions, PullProgressEvent } from './types.js';

interface PullLine {
  id?: string;
  status?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  progressDetail?: { current?: number; total?: number };
}

/** Parses one NDJSON line; throws PullError for an error line. */
export function parsePullLine(ref: string, line: string): PullProgressEvent {
  let parsed: PullLine;
  try {
    parsed = JSON.parse(line) as PullLine;
  } catch {
    throw new PullError(ref, null, `unreadable pull stream line: ${line.slice(0, 200)}`);
  }
  if (parsed.error !== undefined || parsed.errorDetail !== undefined) {
    throw new PullError(ref, parsed.errorDetail?.code ?? null, parsed.errorDetail?.message ?? parsed.error ?? 'pull failed');
  }
  return {
    layer: parsed.id ?? null,
    status: parsed.status ?? '',
    current: parsed.progressDetail?.current ?? null,
    total: parsed.progressDetail?.total ?? null,
  };
}

export async function followPull(ref: string, stream: Readable, options: PullOptions): Promise<void> {
  try {
    for await (const line of ndjsonLines(stream)) {
      // Parsed even with no listener: an error line fails the pull.
      const event = parsePullLine(ref, line);
      options.onProgress?.(event);
    }
  } catch (err) {
    stream.destroy();
    if (err instanceof PullError) throw err;
    if (options.signal?.aborted) throw new PullError(ref, null, 'pull cancelled');
    throw new PullError(ref, null, err instanceof Error ? err.message : String(err));
  }
}
