/** What the lifecycle reports for metrics; src/metrics.ts implements it with prom-client. */

import type { InitMode } from '../image/facts.js';

export type TimedStep = 'pull' | 'detect' | 'create' | 'start';

/** The daemon's own files in the state dir, and what can go wrong with one. */
export type StateFile = 'workspace-record' | 'image-usage';
export type StateFileError = 'read' | 'corrupt' | 'write';

export interface LifecycleMetrics {
  stepTook(step: TimedStep, seconds: number): void;
  pulled(bytes: number): void;
  restarted(reason: string): void;
  /** A boot followed from the container's start was ready after `seconds`. */
  booted(mode: InitMode, seconds: number): void;
  stateFileError(file: StateFile, error: StateFileError): void;
}

/** Runs `work` and reports how long it took when it succeeds (a failed pull's time says nothing useful). */
export async function timed<T>(metrics: LifecycleMetrics | undefined, step: TimedStep, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  const result = await work();
  metrics?.stepTook(step, Number(process.hrtime.bigint() - started) / 1e9);
  return result;
}
