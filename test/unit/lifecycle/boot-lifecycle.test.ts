/**
 * Boot readiness through the real manager over the fake engine (harness.ts): what GET says while a workspace boots
 * and after, the build log's `boot` entry, the histogram's observations, the record, and a daemon restart. The
 * systemd answer and the bootstrap's exit are scripted with the fake engine's exec; test/integration/boot.test.ts
 * shows the same on real sysbox.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecOptions } from '../../../src/engine/types.js';
import { StateStore, type WorkspaceRecord } from '../../../src/lifecycle/store.js';
import { type CommandAnswer, runScript, shellScriptOf } from '../../support/scripted-shell.js';
import { IMAGE, Lifecycle } from './harness.js';

let t: Lifecycle;

beforeEach(async () => {
  t = await Lifecycle.create();
  await t.manager.init();
});
afterEach(async () => {
  await t.cleanup();
});

/** The boot check's exec: systemctl, or a /bin/sh script of systemctl commands. */
const isSystemctl = (options: ExecOptions): boolean => (shellScriptOf(options.cmd) ?? options.cmd[0] ?? '').startsWith('systemctl');
const bootLines = (id: string, manager = t.manager): string[] => t.log(id, manager).filter((line) => line.startsWith('boot: '));

/** systemd's answers: `is-system-running --wait` waits until the test settles it; `--failed` lists `failedUnits`. */
class ScriptedSystemd {
  asks = 0;
  private waiting: ((state: string) => void)[] = [];

  constructor(private readonly failedUnits = '') {}

  exec = async (_id: string, options: ExecOptions): Promise<{ exitCode: number }> => {
    const script = shellScriptOf(options.cmd);
    const answer = script === undefined ? await this.command(options.cmd) : await runScript(script, (argv) => this.command(argv));
    options.onOutput?.('stdout', Buffer.from(answer.stdout));
    return { exitCode: answer.exitCode };
  };

  private command(argv: readonly string[]): Promise<CommandAnswer> {
    if (argv.includes('--failed')) return Promise.resolve({ exitCode: 0, stdout: this.failedUnits, stderr: '' });
    this.asks++;
    return new Promise((resolve) => {
      this.waiting.push((state) => {
        resolve({ exitCode: state === 'running' ? 0 : 1, stdout: `${state}\n`, stderr: '' });
      });
    });
  }

  /** Answers every `--wait` asked so far. */
  settle(state: string): void {
    for (const answer of this.waiting.splice(0)) answer(state);
  }
}

/** A bootstrap exec that writes `lines` and exits `code` when the test says so; systemctl goes to `systemd`. */
function scriptedBootstrap(lines: string[], systemd?: ScriptedSystemd): { exit: (code: number) => void; started: Promise<void> } {
  let exit: (code: number) => void = () => undefined;
  let begun: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (begun = resolve));
  t.engine.onExec = (id, options) => {
    if (isSystemctl(options)) return systemd ? systemd.exec(id, options) : Promise.resolve({ exitCode: 0 });
    begun();
    return new Promise((resolve) => {
      exit = (code) => {
        options.onOutput?.('stdout', Buffer.from(lines.map((l) => `${l}\n`).join('')));
        resolve({ exitCode: code });
      };
    });
  };
  return { exit: (code) => { exit(code); }, started };
}

describe('boot of a systemd workspace', () => {
  beforeEach(() => {
    t.init = 'systemd';
  });

  it('is booting while systemd settles, then ready: one --wait ask, a boot entry, an observation, the record', async () => {
    const systemd = new ScriptedSystemd();
    t.engine.onExec = systemd.exec;
    await t.put('ws1');
    const running = t.manager.get('ws1');
    expect(running).toMatchObject({ phase: 'running', boot: { state: 'booting', readyAt: null, detail: null } });
    expect(bootLines('ws1')).toEqual([]);

    systemd.settle('running');
    await t.untilLogged('ws1', 'boot: ready: systemd: running');
    const { boot, startedAt } = t.manager.get('ws1');
    expect(boot).toMatchObject({ state: 'ready', detail: 'systemd: running' });
    expect(Date.parse(boot?.readyAt ?? '')).toBeGreaterThanOrEqual(Date.parse(startedAt ?? ''));
    expect(systemd.asks).toBe(1);
    const [ask] = t.engine.callsOf('exec').map(([, options]) => options as ExecOptions);
    expect(ask).toMatchObject({ cmd: ['/bin/sh', '-c', expect.stringMatching(/^systemctl is-system-running --wait; /) as string], user: '0:0' });
    expect(t.metrics.boots).toHaveLength(1);
    expect(t.metrics.boots[0]).toMatch(/^systemd \d/);
    await expect.poll(async () => (await t.record('ws1')).boot).toEqual({ ...boot, startedAt });
  });

  it('degraded is ready and names the failed units; maintenance is failed and observes nothing', async () => {
    const degraded = new ScriptedSystemd('sys-kernel-debug.mount loaded failed failed Kernel Debug File System\n');
    t.engine.onExec = degraded.exec;
    await t.put('ws1');
    degraded.settle('degraded');
    await t.untilLogged('ws1', 'boot: ready: systemd: degraded (1 failed unit: sys-kernel-debug.mount)');

    const maintenance = new ScriptedSystemd();
    t.engine.onExec = maintenance.exec;
    await t.put('ws2');
    maintenance.settle('maintenance');
    await t.untilLogged('ws2', 'boot: failed: systemd: maintenance');
    expect(t.manager.get('ws2')).toMatchObject({ phase: 'running', boot: { state: 'failed', readyAt: null, detail: 'systemd: maintenance' } });
    expect(t.metrics.boots).toHaveLength(1);
  });

  it('fails when systemd has not settled within --boot-timeout', async () => {
    await t.cleanup();
    t = await Lifecycle.create({ bootTimeoutMs: 50 });
    t.init = 'systemd';
    await t.manager.init();
    t.engine.onExec = new ScriptedSystemd().exec;
    await t.put('ws1');
    await t.untilLogged('ws1', 'boot: failed: systemd did not settle within 0.05 s (last answer: none)');
    expect(t.manager.get('ws1').boot?.state).toBe('failed');
  });

  it('an adopted workspace that was ready stays ready after a daemon restart: same readyAt, no ask, no new entry', async () => {
    const systemd = new ScriptedSystemd();
    t.engine.onExec = systemd.exec;
    await t.put('ws1');
    systemd.settle('running');
    await t.untilLogged('ws1', 'boot: ready: systemd: running');
    const before = t.manager.get('ws1').boot;
    await expect.poll(async () => (await t.record('ws1')).boot?.state).toBe('ready');
    await t.manager.shutdown('keep');

    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1')).toMatchObject({ phase: 'running', boot: before });
    expect(systemd.asks).toBe(1);
    expect(bootLines('ws1', again)).toEqual([]);
    expect(t.metrics.boots).toHaveLength(1);
  });

  it('one still booting at the restart is asked again, and its time is not observed (the start was not followed)', async () => {
    const systemd = new ScriptedSystemd();
    t.engine.onExec = systemd.exec;
    await t.put('ws1');
    await t.manager.shutdown('keep');

    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1').boot?.state).toBe('booting');
    systemd.settle('running');
    await t.untilLogged('ws1', 'boot: ready: systemd: running', again);
    expect(systemd.asks).toBe(2);
    expect(t.metrics.boots).toEqual([]);
  });

  it('stop makes boot null and stops the ask; a start boots again', async () => {
    const systemd = new ScriptedSystemd();
    t.engine.onExec = systemd.exec;
    await t.put('ws1');
    await t.manager.stop('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'stopped', boot: null });
    systemd.settle('running');
    expect(bootLines('ws1')).toEqual([]);

    await t.manager.start('ws1');
    await t.manager.idle();
    expect(t.manager.get('ws1').boot?.state).toBe('booting');
    systemd.settle('running');
    await t.untilLogged('ws1', 'boot: ready: systemd: running');
    expect(systemd.asks).toBe(2);
  });

  it('the death of PID 1 ends the boot; the crash restart boots again', async () => {
    const systemd = new ScriptedSystemd();
    t.engine.onExec = systemd.exec;
    await t.put('ws1');
    systemd.settle('running');
    await t.untilLogged('ws1', 'boot: ready: systemd: running');
    t.engine.die('cvm-ws1', 1);
    await t.until('ws1', 'failed');
    expect(t.manager.get('ws1').boot).toBeNull();
    await t.until('ws1', 'running');
    expect(t.manager.get('ws1').boot?.state).toBe('booting');
    systemd.settle('running');
    await expect.poll(() => t.manager.get('ws1').boot?.state).toBe('ready');
    expect(systemd.asks).toBe(2);
    expect(bootLines('ws1')).toEqual(['boot: ready: systemd: running', 'boot: ready: systemd: running']);
  });

  it('with a bootstrap: ready only when both systemd has settled and the script exited 0', async () => {
    const systemd = new ScriptedSystemd();
    const script = scriptedBootstrap(['agent started'], systemd);
    await t.put('ws1', { bootstrap: { script: 'start-agent &' } });
    await script.started;
    systemd.settle('running');
    await t.untilLogged('ws1', 'bootstrap: running bootstrap as root');
    expect(t.manager.get('ws1').boot?.state).toBe('booting');
    script.exit(0);
    await t.untilLogged('ws1', 'boot: ready: systemd: running; bootstrap exited 0');
  });
});

describe('boot of init and keepalive workspaces', () => {
  it('keepalive without a bootstrap is ready at its start', async () => {
    t.init = 'keepalive';
    await t.put('ws1');
    const { boot, startedAt } = t.manager.get('ws1');
    expect(boot).toEqual({ state: 'ready', readyAt: new Date(startedAt ?? '').toISOString(), detail: 'keepalive: PID 1 runs' });
    expect(bootLines('ws1')).toEqual(['boot: ready: keepalive: PID 1 runs']);
    expect(t.metrics.boots).toEqual(['keepalive 0']);
    expect(t.engine.callsOf('exec')).toEqual([]);
  });

  it('init with a bootstrap is booting until the script exits 0', async () => {
    const script = scriptedBootstrap(['hello']);
    await t.put('ws1', { bootstrap: { script: 'echo hello' } });
    await script.started;
    expect(t.manager.get('ws1').boot).toEqual({ state: 'booting', readyAt: null, detail: null });
    script.exit(0);
    await t.untilLogged('ws1', 'boot: ready: init: PID 1 runs; bootstrap exited 0');
    expect(t.manager.get('ws1').boot?.state).toBe('ready');
    expect(t.metrics.boots).toHaveLength(1);
    expect(t.metrics.boots[0]).toMatch(/^init \d/);
  });

  it('a bootstrap that exits non-zero fails the boot, with the code and its last lines in the boot entry', async () => {
    t.init = 'keepalive';
    const lines = Array.from({ length: 12 }, (_, i) => `step ${i + 1}`);
    const script = scriptedBootstrap(lines);
    await t.put('ws1', { bootstrap: { script: 'exit 4' } });
    await script.started;
    script.exit(4);
    await t.untilLogged('ws1', 'boot: failed: bootstrap exited with code 4');
    expect(t.manager.get('ws1')).toMatchObject({ phase: 'running', boot: { state: 'failed', readyAt: null, detail: 'bootstrap exited with code 4' } });
    const entry = t.manager.workspace('ws1')?.log.snapshot().find((e) => e.kind === 'boot');
    expect(entry?.data?.['lastLines']).toEqual(lines.slice(2));
    expect(t.metrics.boots).toEqual([]);
    await expect.poll(async () => (await t.record('ws1')).boot?.detail).toBe('bootstrap exited with code 4');
  });

  it('a ready bootstrap boot survives a daemon restart; one the old daemon did not see end is failed, not guessed', async () => {
    const ready = scriptedBootstrap([]);
    await t.put('ws1', { bootstrap: { script: 'true' } });
    await ready.started;
    ready.exit(0);
    await t.untilLogged('ws1', 'boot: ready: init: PID 1 runs; bootstrap exited 0');
    await expect.poll(async () => (await t.record('ws1')).boot?.state).toBe('ready');
    const readyBoot = t.manager.get('ws1').boot;

    const unfinished = scriptedBootstrap([]);
    await t.put('ws2', { bootstrap: { script: 'sleep 1000' } });
    await unfinished.started;
    await t.manager.shutdown('keep');

    const again = t.newManager();
    await again.init();
    await again.idle();
    expect(again.get('ws1').boot).toEqual(readyBoot);
    expect(again.get('ws2').boot).toMatchObject({ state: 'failed', detail: 'bootstrap: its exit is unknown, the daemon restarted while it ran' });
  });
});

describe('shutdown and the settled boot', () => {
  it("waits until the settled boot's record is written, so nothing writes into the state dir after it", async () => {
    // A store whose write of a settled boot waits for the test.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const writing = new Promise<void>((resolve) => (reached = resolve));
    class HeldBootWrites extends StateStore {
      override async save(record: WorkspaceRecord): Promise<void> {
        if (record.boot !== undefined) {
          reached();
          await held;
        }
        return super.save(record);
      }
    }
    const manager = t.newManager({ store: new HeldBootWrites(t.stateDir) });
    await manager.init();
    const bootstrap = scriptedBootstrap([]);
    await manager.put('ws1', { image: IMAGE, bootstrap: { script: 'true' } });
    await bootstrap.started;
    bootstrap.exit(0);
    await writing;
    const order: string[] = [];
    const shutdown = manager.shutdown('keep').then(() => order.push('shut down'));
    // Every step shutdown can take without the write; a macrotask turn each, no clock.
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    order.push('write released');
    release();
    await shutdown;
    expect(order).toEqual(['write released', 'shut down']);
    expect((await t.record('ws1')).boot?.state).toBe('ready');
  });
});
