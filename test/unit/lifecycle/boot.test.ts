/**
 * Boot readiness (src/lifecycle/boot.ts, boot-checks.ts) without an engine: the state machine, the systemd check
 * over a scripted exec on a clock the test controls, the bootstrap's outcome, and the boots of workspaces.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InitMode } from '../../../src/image/facts.js';
import { BootMachine, Boots, type SettledBoot } from '../../../src/lifecycle/boot.js';
import { type BootExec, bootstrapOutcome, describeFailedUnits, type ExecResult, systemdSettled } from '../../../src/lifecycle/boot-checks.js';
import type { WorkspaceRecord } from '../../../src/lifecycle/store.js';
import { Workspace } from '../../../src/lifecycle/workspace.js';
import { runScript, shellScriptOf } from '../../support/scripted-shell.js';

/** What the engine answers an exec of a missing executable (test/integration/engine.test.ts checks it). */
const NO_SHELL: ExecResult = { exitCode: 126, stdout: 'OCI runtime exec failed: exec failed: unable to start container process: exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown\r\n', stderr: '' };
const BUS_DOWN: ExecResult = { exitCode: 1, stdout: '', stderr: 'Failed to connect to bus: No such file or directory\n' };
const FAILED_UNITS = 'sys-kernel-config.mount  loaded failed failed Kernel Configuration File System\nsys-kernel-debug.mount   loaded failed failed Kernel Debug File System\n';

/**
 * An exec that answers from a script, one function per command, and records when each exec came. The image has a
 * shell unless told otherwise: a `/bin/sh -c` script's commands are answered one by one (scripted-shell.ts).
 */
class ScriptedExec implements BootExec {
  readonly calls: { cmd: string; at: number }[] = [];

  constructor(
    private readonly answer: (cmd: string, call: number, signal: AbortSignal) => Promise<ExecResult> | ExecResult,
    private readonly image: { shell: boolean } = { shell: true },
  ) {}

  async run(_containerId: string, cmd: readonly string[], signal: AbortSignal): Promise<ExecResult> {
    this.calls.push({ cmd: cmd.join(' '), at: Date.now() });
    const call = this.calls.length;
    const script = shellScriptOf(cmd);
    if (script === undefined) return this.answer(cmd.join(' '), call, signal);
    if (!this.image.shell) return NO_SHELL;
    return runScript(script, (argv) => this.answer(argv.join(' '), call, signal));
  }

  asks(): number[] {
    return this.calls.filter((c) => c.cmd.includes('is-system-running')).map((c) => c.at);
  }
}

/** Answers `stdout` once the signal aborts: a `--wait` that never returns on its own. */
function blockedUntilAborted(signal: AbortSignal): Promise<ExecResult> {
  const ended: ExecResult = { exitCode: -1, stdout: '', stderr: '' };
  if (signal.aborted) return Promise.resolve(ended);
  return new Promise((resolve) => {
    signal.addEventListener('abort', () => {
      resolve(ended);
    });
  });
}

const answer = (stdout: string, exitCode = 0): ExecResult => ({ exitCode, stdout: `${stdout}\n`, stderr: '' });

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-12-03T15:00:00.000Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('BootMachine', () => {
  const at = new Date('2026-12-03T15:00:05.000Z');

  it('is ready when its only part succeeds, with the part\'s detail', () => {
    const machine = new BootMachine(['init']);
    expect(machine.status).toEqual({ state: 'booting', readyAt: null, detail: null });
    expect(machine.settle('init', { ok: true, detail: 'systemd: running' }, at)).toEqual({ state: 'ready', readyAt: at.toISOString(), detail: 'systemd: running' });
  });

  it('waits for every part; readyAt is when the last one succeeded', () => {
    const machine = new BootMachine(['init', 'bootstrap']);
    expect(machine.settle('bootstrap', { ok: true, detail: 'bootstrap exited 0' }, new Date('2026-12-03T15:00:01.000Z'))).toBeNull();
    expect(machine.status.state).toBe('booting');
    expect(machine.settle('init', { ok: true, detail: 'systemd: running' }, at)).toEqual({
      state: 'ready',
      readyAt: at.toISOString(),
      detail: 'systemd: running; bootstrap exited 0',
    });
  });

  it('fails at the first part that fails, and settles only once', () => {
    const machine = new BootMachine(['init', 'bootstrap']);
    expect(machine.settle('bootstrap', { ok: false, detail: 'bootstrap exited with code 3' }, at)).toEqual({ state: 'failed', readyAt: null, detail: 'bootstrap exited with code 3' });
    expect(machine.settle('init', { ok: true, detail: 'systemd: running' }, at)).toBeNull();
    expect(machine.status.state).toBe('failed');
  });

  it('ignores a part it does not wait for, and a part decided before', () => {
    const machine = new BootMachine(['init', 'bootstrap']);
    expect(machine.settle('init', { ok: true, detail: 'a' }, at)).toBeNull();
    expect(machine.settle('init', { ok: false, detail: 'b' }, at)).toBeNull();
    expect(machine.status.state).toBe('booting');
    expect(new BootMachine(['init']).settle('bootstrap', { ok: false, detail: 'x' }, at)).toBeNull();
  });
});

describe('describeFailedUnits', () => {
  it('names the units of `systemctl --failed --plain --no-legend`', () => {
    expect(describeFailedUnits(FAILED_UNITS)).toBe('2 failed units: sys-kernel-config.mount, sys-kernel-debug.mount');
    expect(describeFailedUnits('a.service loaded failed failed A\n')).toBe('1 failed unit: a.service');
    expect(describeFailedUnits('\n')).toBe('no failed unit listed');
  });
});

describe('systemdSettled', () => {
  const signal = new AbortController().signal;

  it('asks again while systemd cannot answer, after 50 then 100 ms, then once with --wait; degraded names the failed units listed by the same exec', async () => {
    const exec = new ScriptedExec((cmd, call) => {
      if (cmd.includes('--failed')) return answer(FAILED_UNITS);
      return call <= 2 ? BUS_DOWN : answer('degraded', 1);
    });
    const result = systemdSettled(exec, 'c1', { timeoutMs: 60_000, signal });
    await vi.advanceTimersByTimeAsync(49);
    expect(exec.asks()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(exec.asks()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(99);
    expect(exec.asks()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toEqual({ ok: true, detail: 'systemd: degraded (2 failed units: sys-kernel-config.mount, sys-kernel-debug.mount)' });
    const start = Date.parse('2026-12-03T15:00:00.000Z');
    expect(exec.asks().map((at) => at - start)).toEqual([0, 50, 150]);
    const askAndList = "/bin/sh -c systemctl is-system-running --wait; echo '--- failed units (cvm-supervisor)'; systemctl --failed --plain --no-legend --no-pager";
    expect(exec.calls.map((c) => c.cmd)).toEqual([askAndList, askAndList, askAndList]);
  });

  it('in an image without /bin/sh, asks the plain question at once and from then on, and lists the failed units by a second exec', async () => {
    const exec = new ScriptedExec((cmd, call) => {
      if (cmd.includes('--failed')) return answer(FAILED_UNITS);
      return call <= 2 ? BUS_DOWN : answer('degraded', 1);
    }, { shell: false });
    const result = systemdSettled(exec, 'c1', { timeoutMs: 60_000, signal });
    await vi.advanceTimersByTimeAsync(50);
    await expect(result).resolves.toEqual({ ok: true, detail: 'systemd: degraded (2 failed units: sys-kernel-config.mount, sys-kernel-debug.mount)' });
    const start = Date.parse('2026-12-03T15:00:00.000Z');
    expect(exec.calls.map((c) => [c.cmd.split(' ').slice(0, 2).join(' '), c.at - start])).toEqual([
      ['/bin/sh -c', 0],
      ['systemctl is-system-running', 0],
      ['systemctl is-system-running', 50],
      ['systemctl --failed', 50],
    ]);
  });

  it('names a degraded system whose failed units could not be listed', async () => {
    const exec = new ScriptedExec((cmd) => (cmd.includes('--failed') ? Promise.reject(new Error('engine gone')) : answer('degraded', 1)), { shell: false });
    await expect(systemdSettled(exec, 'c1', { timeoutMs: 1000, signal })).resolves.toEqual({ ok: true, detail: 'systemd: degraded (the failed units could not be listed: engine gone)' });
  });

  it('is ok on running with one exec, and not ok on maintenance', async () => {
    const running = new ScriptedExec((cmd) => (cmd.includes('--failed') ? answer('') : answer('running')));
    await expect(systemdSettled(running, 'c1', { timeoutMs: 1000, signal })).resolves.toEqual({ ok: true, detail: 'systemd: running' });
    expect(running.calls).toHaveLength(1);
    const maintenance = new ScriptedExec(() => answer('maintenance', 1));
    await expect(systemdSettled(maintenance, 'c1', { timeoutMs: 1000, signal })).resolves.toEqual({ ok: false, detail: 'systemd: maintenance' });
  });

  it('fails when systemd has not settled within the timeout, ending the exec that waits', async () => {
    let waiting: AbortSignal | undefined;
    const exec = new ScriptedExec((_cmd, _call, execSignal) => {
      waiting = execSignal;
      return blockedUntilAborted(execSignal);
    });
    const result = systemdSettled(exec, 'c1', { timeoutMs: 90_000, signal });
    await vi.advanceTimersByTimeAsync(89_999);
    expect(waiting?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toEqual({ ok: false, detail: 'systemd did not settle within 90 s (last answer: none)' });
    expect(waiting?.aborted).toBe(true);
    expect(exec.asks()).toHaveLength(1);
  });

  it('asks at most once a second while the bus stays down, and names the last answer at the timeout', async () => {
    const exec = new ScriptedExec(() => BUS_DOWN);
    const result = systemdSettled(exec, 'c1', { timeoutMs: 10_000, signal });
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(result).resolves.toEqual({ ok: false, detail: 'systemd did not settle within 10 s (last answer: Failed to connect to bus: No such file or directory)' });
    // 0, 50, 150, 350, 750, 1550, then every second: 2550 ... 9550.
    expect(exec.asks()).toHaveLength(14);
  });

  it('gives null (nothing known) when its signal aborts', async () => {
    const stop = new AbortController();
    const exec = new ScriptedExec((_cmd, _call, execSignal) => blockedUntilAborted(execSignal));
    const result = systemdSettled(exec, 'c1', { timeoutMs: 60_000, signal: stop.signal });
    await vi.advanceTimersByTimeAsync(1000);
    stop.abort();
    await expect(result).resolves.toBeNull();
  });
});

describe('bootstrapOutcome', () => {
  const signal = new AbortController().signal;

  it('is ok on exit 0 and names any other exit code', async () => {
    await expect(bootstrapOutcome(Promise.resolve(0), signal)).resolves.toEqual({ ok: true, detail: 'bootstrap exited 0' });
    await expect(bootstrapOutcome(Promise.resolve(3), signal)).resolves.toEqual({ ok: false, detail: 'bootstrap exited with code 3' });
    await expect(bootstrapOutcome(Promise.reject(new Error('no such user')), signal)).resolves.toEqual({ ok: false, detail: 'bootstrap could not run: no such user' });
  });

  it('does not take an exit seen after it stopped being followed for a success', async () => {
    const aborted = AbortSignal.abort();
    await expect(bootstrapOutcome(Promise.resolve(0), aborted)).resolves.toMatchObject({ ok: false, detail: expect.stringMatching(/exit is unknown/) as string });
  });
});

const STARTED_AT = '2026-12-03T15:00:00.000000000Z';

function runningWorkspace(mode: InitMode, options: { bootstrap?: boolean; boot?: SettledBoot } = {}): Workspace {
  const record: WorkspaceRecord = {
    id: 'w1',
    spec: { image: 'img', ...(options.bootstrap ? { bootstrap: { script: 'echo hi' } } : {}) },
    desired: 'running',
    generation: 1,
    pending: null,
    createdAt: STARTED_AT,
    restarts: 0,
    ...(options.boot ? { boot: options.boot } : {}),
  };
  const ws = new Workspace(record);
  ws.containerId = 'c1';
  ws.startedAt = STARTED_AT;
  ws.init = { mode, path: '/sbin/init', target: null, reason: null };
  ws.setPhase('running');
  return ws;
}

function boots(exec: BootExec) {
  const persisted: SettledBoot[] = [];
  const observed: [InitMode, number][] = [];
  const b = new Boots({
    exec,
    timeoutMs: 300_000,
    persist: (ws) => {
      if (ws.record.boot) persisted.push(ws.record.boot);
      return Promise.resolve();
    },
    booted: (mode, seconds) => observed.push([mode, seconds]),
    logger: pino({ level: 'silent' }),
  });
  return { boots: b, persisted, observed };
}

const bootEvents = (ws: Workspace) => ws.log.snapshot().filter((e) => e.kind === 'boot');

describe('Boots', () => {
  it('keepalive without a bootstrap: ready at its start, logged and observed, not written (found out again at no cost)', () => {
    const ws = runningWorkspace('keepalive');
    const { boots: b, persisted, observed } = boots(new ScriptedExec(() => answer('running')));
    b.started(ws, null);
    expect(ws.status('h').boot).toEqual({ state: 'ready', readyAt: '2026-12-03T15:00:00.000Z', detail: 'keepalive: PID 1 runs' });
    expect(bootEvents(ws)).toHaveLength(1);
    expect(bootEvents(ws)[0]).toMatchObject({ message: 'ready: keepalive: PID 1 runs', data: { state: 'ready' } });
    expect(observed).toEqual([['keepalive', 0]]);
    expect(persisted).toEqual([]);
  });

  it('init with a bootstrap: booting until the script exits 0, then ready and written with its start', async () => {
    const ws = runningWorkspace('init', { bootstrap: true });
    const { boots: b, persisted, observed } = boots(new ScriptedExec(() => answer('running')));
    let exit: (code: number) => void = () => undefined;
    b.started(ws, new Promise((resolve) => { exit = resolve; }));
    expect(ws.status('h').boot?.state).toBe('booting');
    await vi.advanceTimersByTimeAsync(2500);
    exit(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.status('h').boot).toEqual({ state: 'ready', readyAt: '2026-12-03T15:00:02.500Z', detail: 'init: PID 1 runs; bootstrap exited 0' });
    expect(observed).toEqual([['init', 2.5]]);
    expect(persisted).toEqual([{ state: 'ready', readyAt: '2026-12-03T15:00:02.500Z', detail: 'init: PID 1 runs; bootstrap exited 0', startedAt: STARTED_AT }]);
  });

  it('a failing bootstrap: failed with its exit code, the event repeating its last lines of output', async () => {
    const ws = runningWorkspace('keepalive', { bootstrap: true });
    ws.log.append('bootstrap', 'from an earlier start', { stream: 'stdout' });
    const { boots: b, observed } = boots(new ScriptedExec(() => answer('running')));
    let exit: (code: number) => void = () => undefined;
    b.started(ws, new Promise((resolve) => { exit = resolve; }));
    ws.log.append('bootstrap', 'running bootstrap as root');
    for (let i = 1; i <= 12; i++) ws.log.append('bootstrap', `line ${i}`, { stream: i % 2 ? 'stdout' : 'stderr' });
    exit(7);
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.status('h').boot).toEqual({ state: 'failed', readyAt: null, detail: 'bootstrap exited with code 7' });
    const event = bootEvents(ws)[0];
    expect(event?.message).toBe('failed: bootstrap exited with code 7');
    expect(event?.data?.['lastLines']).toEqual(['line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8', 'line 9', 'line 10', 'line 11', 'line 12']);
    expect(observed).toEqual([]);
  });

  it('systemd: booting until systemctl answers, then ready, observed and written', async () => {
    const ws = runningWorkspace('systemd');
    let settle: (r: ExecResult) => void = () => undefined;
    const exec = new ScriptedExec((cmd) => (cmd.includes('--failed') ? answer(FAILED_UNITS) : new Promise<ExecResult>((resolve) => { settle = resolve; })));
    const { boots: b, persisted, observed } = boots(exec);
    b.started(ws, null);
    await vi.advanceTimersByTimeAsync(4000);
    expect(ws.status('h').boot?.state).toBe('booting');
    settle(answer('degraded', 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.status('h').boot?.state).toBe('ready');
    expect(ws.status('h').boot?.detail).toMatch(/^systemd: degraded \(2 failed units/);
    expect(observed).toEqual([['systemd', 4]]);
    expect(persisted).toHaveLength(1);
  });

  it('leaving running ends the boot: null in the status, and a later answer settles nothing', async () => {
    const ws = runningWorkspace('systemd');
    let settle: (r: ExecResult) => void = () => undefined;
    const { boots: b, persisted, observed } = boots(new ScriptedExec(() => new Promise<ExecResult>((resolve) => { settle = resolve; })));
    b.started(ws, null);
    ws.setPhase('stopping');
    expect(ws.status('h').boot).toBeNull();
    settle(answer('running'));
    await vi.advanceTimersByTimeAsync(0);
    expect(bootEvents(ws)).toEqual([]);
    expect(persisted).toEqual([]);
    expect(observed).toEqual([]);
  });

  it('adoption restores the boot the record settled for this start: no check, no event, no observation', () => {
    const kept: SettledBoot = { state: 'ready', readyAt: '2026-12-03T15:00:06.000Z', detail: 'systemd: running', startedAt: STARTED_AT };
    const ws = runningWorkspace('systemd', { boot: kept });
    const exec = new ScriptedExec(() => answer('running'));
    const { boots: b, observed } = boots(exec);
    b.adopted(ws);
    expect(ws.status('h').boot).toEqual({ state: 'ready', readyAt: '2026-12-03T15:00:06.000Z', detail: 'systemd: running' });
    expect(exec.calls).toEqual([]);
    expect(bootEvents(ws)).toEqual([]);
    expect(observed).toEqual([]);
  });

  it('adoption of another start asks systemd again (it answers at once once booted), without observing the time', async () => {
    const older: SettledBoot = { state: 'failed', readyAt: null, detail: 'systemd: maintenance', startedAt: '2026-12-01T00:00:00Z' };
    const ws = runningWorkspace('systemd', { boot: older });
    const exec = new ScriptedExec(() => answer('running'));
    const { boots: b, observed, persisted } = boots(exec);
    b.adopted(ws);
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.status('h').boot?.state).toBe('ready');
    expect(exec.asks()).toHaveLength(1);
    expect(observed).toEqual([]);
    expect(persisted[0]?.startedAt).toBe(STARTED_AT);
  });

  it('adoption: an init without a bootstrap is ready from its start; a bootstrap nobody followed to its end is failed', () => {
    const plain = runningWorkspace('init');
    const withBootstrap = runningWorkspace('init', { bootstrap: true });
    const { boots: b } = boots(new ScriptedExec(() => answer('running')));
    b.adopted(plain);
    b.adopted(withBootstrap);
    expect(plain.status('h').boot).toEqual({ state: 'ready', readyAt: '2026-12-03T15:00:00.000Z', detail: 'init: PID 1 runs' });
    expect(bootEvents(plain)).toEqual([]);
    expect(withBootstrap.status('h').boot).toMatchObject({ state: 'failed', detail: expect.stringMatching(/daemon restarted while it ran/) as string });
  });
});
