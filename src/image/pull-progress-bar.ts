/**
 * The progress bar `serve` draws on a terminal while the boot workspace's image is pulled: one line redrawn in
 * place from the build log's pull events, ended when the pull is over.
 */

/** What the bar reads of a build log entry (lifecycle/event-log.ts's LogEvent). */
interface LogEntry {
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

/** A build log the bar can follow. */
export interface FollowedLog {
  subscribe(listener: (event: LogEntry) => void): () => void;
}

const WIDTH = 30;

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** `[##########--------------------]  33%  10.0 MB / 30.0 MB`. Pure. */
export function renderProgressBar(done: number, total: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * WIDTH);
  const percent = String(Math.floor(fraction * 100)).padStart(3);
  return `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${percent}%  ${megabytes(done)} / ${megabytes(total)}`;
}

function isPullFinished(event: LogEntry): boolean {
  return (event.kind === 'pull' && event.message.startsWith('pulled ')) || event.kind === 'failure' || (event.kind === 'phase' && event.data?.['phase'] !== 'pulling');
}

/** Draws the bar for pull events until the pull ends; returns the function that stops early. */
export function drawPullProgress(log: FollowedLog, write: (text: string) => void, label: string): () => void {
  let drawn = false;
  const unsubscribe = log.subscribe((event) => {
    const { done, total } = (event.data ?? {}) as { done?: unknown; total?: unknown };
    if (event.kind === 'pull' && typeof done === 'number' && typeof total === 'number') {
      write(`\r${label} ${renderProgressBar(done, total)}`);
      drawn = true;
    } else if (isPullFinished(event)) {
      if (drawn) write('\n');
      drawn = false;
      unsubscribe();
    }
  });
  return unsubscribe;
}
