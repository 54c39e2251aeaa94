/**
 * The checks a boot waits for (see boot.ts): systemd settling, asked once by `systemctl is-system-running --wait`
 * (it blocks inside until startup has finished, so the daemon does not poll), and the bootstrap script's exit.
 * They run commands through the engine's exec slice.
 */
import { pause } from '../backoff.js';
import type { EngineExec } from '../engine/types.js';

/** A part of a boot has ended: ok, or not, with what to tell the user. */
export interface PartOutcome {
  ok: boolean;
  detail: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command as root in a running container and returns its exit code and output. */
export interface BootExec {
  run(containerId: string, cmd: readonly string[], signal: AbortSignal): Promise<ExecResult>;
}

/** Enough of a command's output for a one-word answer or a list of units. */
const MAX_OUTPUT = 64 * 1024;

/**
 * The exec ends its stream when `signal` aborts; the answer does not wait for that either (an engine that stalls
 * must not keep a boot from failing at its timeout): exit code -1 then.
 */
export function bootExec(engine: EngineExec): BootExec {
  return {
    async run(containerId, cmd, signal) {
      const out = { stdout: '', stderr: '' };
      const exec = engine.exec(containerId, {
        cmd: [...cmd],
        user: '0:0',
        signal,
        onOutput: (stream, chunk) => {
          if (out[stream].length < MAX_OUTPUT) out[stream] += chunk.toString('utf8');
        },
      });
      let onAbort = (): void => undefined;
      const aborted = new Promise<{ exitCode: number }>((resolve) => {
        onAbort = () => { resolve({ exitCode: -1 }); };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const { exitCode } = await Promise.race([exec, aborted]);
        return { exitCode, ...out };
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

/**
 * Delays between asks while systemd cannot answer yet: in the first moments of a boot `systemctl` fails at once
 * ("Failed to connect to bus") because PID 1 has not opened its socket. Short at first (that window is well under a
 * second), then at most one ask a second; once systemd answers, the one `--wait` ask blocks until it has settled.
 */
export const SYSTEMD_RETRY_DELAYS_MS = [50, 100, 200, 400, 800, 1000] as const;

/** `is-system-running` states after startup: usable, or not. Any other answer means "ask again". */
const USABLE = new Set(['running', 'degraded']);
const UNUSABLE = new Set(['maintenance', 'stopping']);

/**
 * Resolves when systemd in the container has settled: `running` or `degraded` is ok (the detail names the failed
 * units), `maintenance` (or `stopping`) is not, and so is no answer within `timeoutMs`. Null when `signal` aborted
 * it (the workspace stopped, or the daemon shuts down): then nothing is known.
 */
export async function systemdSettled(exec: BootExec, containerId: string, options: { timeoutMs: number; signal: AbortSignal }): Promise<PartOutcome | null> {
  const timeout = new AbortController();
  const timer = setTimeout(() => {
    timeout.abort();
  }, options.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout.signal]);
  // A function, so the compiler does not narrow `signal.aborted` across the awaits below.
  const ended = (): boolean => signal.aborted;
  let last = 'none';
  try {
    for (let attempt = 0; !ended(); attempt++) {
      try {
        const answer = await exec.run(containerId, ['systemctl', 'is-system-running', '--wait'], signal);
        // Cut short by the timeout or a stop: no answer.
        if (ended()) break;
        const state = answer.stdout.trim().split('\n').at(-1)?.trim() ?? '';
        if (USABLE.has(state)) return { ok: true, detail: state === 'degraded' ? await degradedDetail(exec, containerId, signal) : 'systemd: running' };
        if (UNUSABLE.has(state)) return { ok: false, detail: `systemd: ${state}` };
        last = state || firstLine(answer.stderr) || `exit code ${answer.exitCode}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (!ended()) await pause(SYSTEMD_RETRY_DELAYS_MS[Math.min(attempt, SYSTEMD_RETRY_DELAYS_MS.length - 1)] ?? 1000, signal);
    }
  } finally {
    clearTimeout(timer);
  }
  if (options.signal.aborted) return null;
  return { ok: false, detail: `systemd did not settle within ${options.timeoutMs / 1000} s (last answer: ${last})` };
}

/** `systemd: degraded (2 failed units: a.mount, b.service)`, as `systemctl --failed` lists them. */
async function degradedDetail(exec: BootExec, containerId: string, signal: AbortSignal): Promise<string> {
  try {
    const { stdout } = await exec.run(containerId, ['systemctl', '--failed', '--plain', '--no-legend', '--no-pager'], signal);
    return `systemd: degraded (${describeFailedUnits(stdout)})`;
  } catch (err) {
    return `systemd: degraded (the failed units could not be listed: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/** The first column of `systemctl --failed --plain --no-legend`: the unit names. */
export function describeFailedUnits(listing: string): string {
  const units = listing
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((unit) => unit !== '');
  if (units.length === 0) return 'no failed unit listed';
  return `${units.length} failed unit${units.length === 1 ? '' : 's'}: ${units.join(', ')}`;
}

/**
 * The bootstrap script's part: ok when it exits 0. Following it may stop while it still runs (`signal` aborted:
 * the workspace was started again, the daemon shuts down); its exit is then unknown, which is no success.
 */
export async function bootstrapOutcome(run: Promise<number>, signal: AbortSignal): Promise<PartOutcome> {
  const unfollowed = { ok: false, detail: 'bootstrap: its exit is unknown, the daemon stopped following it while it ran' };
  try {
    const exitCode = await run;
    if (signal.aborted) return unfollowed;
    return exitCode === 0 ? { ok: true, detail: 'bootstrap exited 0' } : { ok: false, detail: `bootstrap exited with code ${exitCode}` };
  } catch (err) {
    if (signal.aborted) return unfollowed;
    return { ok: false, detail: `bootstrap could not run: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}
