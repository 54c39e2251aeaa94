import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { installShutdown } from '../../../src/daemon/shutdown.js';

const silent = pino({ level: 'silent' });

function fakeProcess(): EventEmitter & Pick<NodeJS.Process, 'on'> {
  return new EventEmitter() as EventEmitter & Pick<NodeJS.Process, 'on'>;
}

describe('installShutdown', () => {
  it('runs the steps in order on SIGTERM and exits 0', async () => {
    const order: string[] = [];
    const codes: number[] = [];
    const proc = fakeProcess();
    let releaseFirst = (): void => undefined;
    const firstMayEnd = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const { trigger } = installShutdown(
      [
        async () => {
          order.push('unready begins');
          await firstMayEnd;
          order.push('unready');
        },
        () => {
          order.push('stop workspaces');
          return Promise.resolve();
        },
      ],
      { graceMs: 1000, log: silent, exit: (c) => codes.push(c), process: proc },
    );
    proc.emit('SIGTERM');
    proc.emit('SIGTERM'); // the same request delivered twice at once (GNU timeout does this) is not a second one
    await new Promise((resolve) => setImmediate(resolve));
    // The second step waits for the first to end.
    expect(order).toEqual(['unready begins']);
    releaseFirst();
    await trigger('await the run');
    expect(order).toEqual(['unready begins', 'unready', 'stop workspaces']);
    // trigger() while running is a second request: it forces exit(1); the first run still ends with 0.
    expect(codes).toEqual([1, 0]);
  });

  it('exits 1 when the budget runs out', async () => {
    const codes: number[] = [];
    const { trigger } = installShutdown([() => new Promise(() => undefined)], {
      graceMs: 20,
      log: silent,
      exit: (c) => codes.push(c),
      process: fakeProcess(),
    });
    await trigger('test');
    expect(codes).toEqual([1]);
  });

  it('exits 1 when a step throws', async () => {
    const codes: number[] = [];
    const { trigger } = installShutdown([() => Promise.reject(new Error('boom'))], {
      graceMs: 1000,
      log: silent,
      exit: (c) => codes.push(c),
      process: fakeProcess(),
    });
    await trigger('test');
    expect(codes).toEqual([1]);
  });

  it('a step that fails does not skip the later ones (the engine still stops after its workspaces), then exits 1', async () => {
    const codes: number[] = [];
    const ran: string[] = [];
    const { trigger } = installShutdown(
      [
        () => Promise.reject(new Error('a workspace did not stop')),
        () => {
          ran.push('stop the engine');
          return Promise.resolve();
        },
      ],
      { graceMs: 1000, log: silent, exit: (c) => codes.push(c), process: fakeProcess() },
    );
    await trigger('test');
    expect(ran).toEqual(['stop the engine']);
    expect(codes).toEqual([1]);
  });
});
