/**
 * Graceful shutdown on SIGTERM/SIGINT: run the steps once, in order, within a budget, then exit. A step that fails
 * is logged and the later ones still run (the engine must stop after its workspaces whatever happened to them);
 * the exit status is then 1. A second signal or an exhausted budget exits at once with status 1, so Kubernetes
 * never has to SIGKILL a hung daemon.
 */
import type { Logger } from 'pino';

export interface ShutdownOptions {
  graceMs: number;
  log: Logger;
  exit?: (code: number) => void;
  signals?: readonly NodeJS.Signals[];
  process?: Pick<NodeJS.Process, 'on'>;
}

const DUPLICATE_SIGNAL_MS = 1000;

export type ShutdownStep = (deadline: number) => Promise<void>;

/** `trigger` runs the steps and exits with `exitCode` (default 0) when they finish in time, 1 otherwise. */
export function installShutdown(steps: readonly ShutdownStep[], options: ShutdownOptions): { trigger: (reason: string, exitCode?: number) => Promise<void> } {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const proc = options.process ?? process;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let running: Promise<void> | null = null;

  const trigger = (reason: string, exitCode = 0): Promise<void> => {
    if (running) {
      options.log.warn({ reason }, 'second shutdown request; exiting now');
      exit(1);
      return running;
    }
    options.log.info({ reason, graceMs: options.graceMs }, 'shutting down');
    const deadline = Date.now() + options.graceMs;
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        resolve('timeout');
      }, options.graceMs);
    });
    const work = (async (): Promise<'done' | 'failed'> => {
      let failed = false;
      for (const [index, step] of steps.entries()) {
        const started = Date.now();
        try {
          await step(deadline);
          options.log.debug({ step: index + 1, of: steps.length, ms: Date.now() - started }, 'shutdown step done');
        } catch (err) {
          failed = true;
          options.log.error({ err, step: index + 1, of: steps.length }, 'shutdown step failed; going on with the next');
        }
      }
      return failed ? 'failed' : 'done';
    })();
    running = Promise.race([work, budget]).then(
      (outcome) => {
        clearTimeout(timer);
        if (outcome === 'timeout') options.log.error('shutdown budget exhausted');
        else if (outcome === 'failed') options.log.error('shutdown complete, but not every step succeeded');
        else options.log.info('shutdown complete');
        exit(outcome === 'done' ? exitCode : 1);
      },
    );
    return running;
  };

  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    // Some supervisors (GNU timeout, a shell's process group) deliver one request twice at once; only a signal
    // that comes later is a person insisting.
    if (running && Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
    firstSignalAt ||= Date.now();
    void trigger(signal);
  };
  for (const signal of signals) proc.on(signal, onSignal);
  return { trigger };
}
