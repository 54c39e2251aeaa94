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

/** `is-system-running` states after startup that are not usable (`running` and `degraded` are). Any other answer means "ask again". */
const UNUSABLE = new Set(['maintenance', 'stopping']);

const SETTLE = ['systemctl', 'is-system-running', '--wait'];
const LIST_FAILED = ['systemctl', '--failed', '--plain', '--no-legend', '--no-pager'];
const LISTING_MARKER = '--- failed units (cvm-supervisor)';
/**
 * Both questions in one exec: a second exec for the failed units of a `degraded` system (the usual answer under
 * sysbox) cost about 150 ms on this kind of node. It needs /bin/sh; the marker line shows that the shell ran.
 */
const SETTLE_AND_LIST = ['/bin/sh', '-c', `${SETTLE.join(' ')}; echo '${LISTING_MARKER}'; ${LIST_FAILED.join(' ')}`];

/** systemd's answer; the failed units when the same exec listed them; whether the shell ran. */
interface SettleAnswer {
  state: string;
  failedUnits?: string;
  stderr: string;
  exitCode: number;
  viaShell: boolean;
}

/** Asks once. An image without a shell answers without the marker: it is asked the plain question instead. */
async function askSettled(exec: BootExec, containerId: string, viaShell: boolean, signal: AbortSignal): Promise<SettleAnswer> {
  if (viaShell) {
    const answer = await exec.run(containerId, SETTLE_AND_LIST, signal);
    const lines = answer.stdout.split('\n');
    const marker = lines.indexOf(LISTING_MARKER);
    if (marker >= 0 || signal.aborted) {
      const failedUnits = marker >= 0 ? lines.slice(marker + 1).join('\n') : '';
      return { state: lastLine(lines.slice(0, Math.max(marker, 0)).join('\n')), failedUnits, stderr: answer.stderr, exitCode: answer.exitCode, viaShell };
    }
  }
  const answer = await exec.run(containerId, SETTLE, signal);
  return { state: lastLine(answer.stdout), stderr: answer.stderr, exitCode: answer.exitCode, viaShell: false };
}

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
  let viaShell = true;
  try {
    for (let attempt = 0; !ended(); attempt++) {
      try {
        const answer = await askSettled(exec, containerId, viaShell, signal);
        viaShell = answer.viaShell;
        // Cut short by the timeout or a stop: no answer.
        if (ended()) break;
        if (answer.state === 'degraded') return { ok: true, detail: `systemd: degraded (${answer.failedUnits === undefined ? await listFailedUnits(exec, containerId, signal) : describeFailedUnits(answer.failedUnits)})` };
        if (answer.state === 'running') return { ok: true, detail: 'systemd: running' };
        if (UNUSABLE.has(answer.state)) return { ok: false, detail: `systemd: ${answer.state}` };
        last = answer.state || firstLine(answer.stderr) || `exit code ${answer.exitCode}`;
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

/** The failed units by a second exec, where the image has no shell to ask both at once. */
async function listFailedUnits(exec: BootExec, containerId: string, signal: AbortSignal): Promise<string> {
  try {
    const { stdout } = await exec.run(containerId, LIST_FAILED, signal);
    return describeFailedUnits(stdout);
  } catch (err) {
    return `the failed units could not be listed: ${err instanceof Error ? err.message : String(err)}`;
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

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim() ?? '';
}
