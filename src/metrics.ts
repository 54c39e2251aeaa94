/**
 * The daemon's one Prometheus registry. prom-client's process and Node metrics keep their standard names; the
 * daemon's own are `cvm_supervisor_*`. No label takes an unbounded value: never a workspace id.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { GpuNode } from './gpu/plan.js';
import { HttpRequestHistogram } from './http-histogram.js';
import type { InitMode } from './image/facts.js';
import type { LifecycleMetrics, StateFile, StateFileError, TimedStep } from './lifecycle/lifecycle-metrics.js';
import { PHASES, type Phase } from './lifecycle/phase.js';
import { reuseFor } from './reuse-for.js';

const STEP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/**
 * GPU discovery reads a few dozen host files (about 2.5 ms, most of a scrape's time with 500 workspaces); the GPU
 * gauge reuses one discovery this long.
 */
export const GPU_GAUGE_REUSE_MS = 10_000;

/**
 * prom-client's event-loop delay gauges are computed from Node's delay histogram at every scrape, which then resets
 * it. The mean and the standard deviation each walk every bucket: about 1.4 ms, most of a scrape with 500
 * workspaces. They are computed at most once per this many ms; a scrape in between serves the last figures, and the
 * next computation covers everything since the last one, so no delay goes unreported.
 */
export const EVENT_LOOP_LAG_MIN_WINDOW_MS = 1_000;

function throttleEventLoopLag(registry: Registry, now: () => number): void {
  // This one gauge's collect sets all eight nodejs_eventloop_lag_* gauges (prom-client's eventLoopLag.js).
  const lag = registry.getSingleMetric('nodejs_eventloop_lag_seconds') as { collect?: () => void } | undefined;
  const compute = lag?.collect;
  if (!lag || !compute) throw new Error('prom-client no longer has the nodejs_eventloop_lag_seconds collector');
  let computedAt = -Infinity;
  lag.collect = () => {
    if (now() - computedAt < EVENT_LOOP_LAG_MIN_WINDOW_MS) return;
    computedAt = now();
    compute.call(lag);
  };
}

export class Metrics implements LifecycleMetrics {
  readonly registry = new Registry();
  private readonly info: Gauge<'version' | 'engine_version'>;
  private readonly phaseDuration: Histogram<'phase'>;
  private readonly pullBytes: Counter;
  private readonly restarts: Counter<'reason'>;
  private readonly bootDuration: Histogram<'init'>;
  private readonly gcReclaimedBytes: Counter;
  private readonly gcRemovedImages: Counter;
  private readonly stateFileErrors: Counter<'file' | 'error'>;
  private readonly engineErrors: Counter<'operation'>;
  private readonly httpDuration = new HttpRequestHistogram(
    'cvm_supervisor_http_request_duration_seconds',
    'HTTP requests served, by method, route pattern and status code.',
    HTTP_BUCKETS,
  );

  private nextRender: Promise<string> | null = null;

  /**
   * `phases` is read at scrape time, so the gauge is always exactly what the manager holds; `gpus` (GPU discovery)
   * at most every GPU_GAUGE_REUSE_MS, so the GPU gauge follows driver reloads and hot mounts without a restart.
   */
  constructor(version: string, phases: () => Iterable<Phase>, gpus?: () => Promise<GpuNode>, now: () => number = Date.now) {
    collectDefaultMetrics({ register: this.registry });
    throttleEventLoopLag(this.registry, now);
    // Gauges named like counters, which `promtool check metrics` flags; nodejs_active_{handles,requests,resources}
    // (by type) carry the same counts.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
    const registers = [this.registry];
    this.info = new Gauge({
      name: 'cvm_supervisor_info',
      help: 'The daemon version and the engine version it talks to (value is always 1).',
      labelNames: ['version', 'engine_version'],
      registers,
    });
    this.info.set({ version, engine_version: 'unknown' }, 1);
    new Gauge({
      name: 'cvm_supervisor_workspaces',
      help: 'Workspaces by lifecycle phase.',
      labelNames: ['phase'],
      registers,
      collect() {
        const counts = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
        for (const phase of phases()) counts.set(phase, (counts.get(phase) ?? 0) + 1);
        for (const [phase, count] of counts) this.set({ phase }, count);
      },
    });
    if (gpus) {
      const discovery = reuseFor(GPU_GAUGE_REUSE_MS, gpus);
      new Gauge({
        name: 'cvm_supervisor_gpus',
        help: 'NVIDIA GPUs workspaces may get on this node, by driver version (0 when GPUs are disabled or refused).',
        labelNames: ['driver_version'],
        registers,
        async collect() {
          const { enabled, facts } = await discovery.get();
          this.reset();
          this.set({ driver_version: facts.driverVersion ?? 'none' }, enabled && facts.unsupported === null ? facts.gpus.length : 0);
        },
      });
    }
    this.phaseDuration = new Histogram({
      name: 'cvm_supervisor_phase_duration_seconds',
      help: 'How long successful lifecycle steps take: pull, detect (init detection), create, start.',
      labelNames: ['phase'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.pullBytes = new Counter({ name: 'cvm_supervisor_image_pull_bytes_total', help: 'Bytes of image layers pulled.', registers });
    this.gcReclaimedBytes = new Counter({
      name: 'cvm_supervisor_image_gc_reclaimed_bytes_total',
      help: 'Bytes of unused workspace images removed by image GC (image sizes as the engine reports them).',
      registers,
    });
    this.gcRemovedImages = new Counter({ name: 'cvm_supervisor_image_gc_removed_images_total', help: 'Unused workspace images removed by image GC.', registers });
    this.stateFileErrors = new Counter({
      name: 'cvm_supervisor_state_file_errors_total',
      help: "Failures of the daemon's own files in the state dir, by file (workspace-record, image-usage) and error (read, corrupt: set aside, write).",
      labelNames: ['file', 'error'],
      registers,
    });
    this.restarts = new Counter({
      name: 'cvm_supervisor_workspace_restarts_total',
      help: 'Workspaces restarted by the daemon after their PID 1 died, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.bootDuration = new Histogram({
      name: 'cvm_supervisor_workspace_boot_seconds',
      help: "From a workspace container's start until it was usable (boot ready), by init: systemd, init, keepalive.",
      labelNames: ['init'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.engineErrors = new Counter({
      name: 'cvm_supervisor_engine_errors_total',
      help: 'Failed requests to the container engine, by operation.',
      labelNames: ['operation'],
      registers,
    });
    this.registry.registerMetric(this.httpDuration.asMetric());
  }

  /**
   * The exposition text. Scrapes that arrive in the same event-loop turn share one render, begun after all of them
   * arrived (none gets figures older than its request): ten scrapers at once cost one render, not ten in a row.
   */
  render(): Promise<string> {
    this.nextRender ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.nextRender = null;
      return this.registry.metrics();
    });
    return this.nextRender;
  }

  engineVersion(engineVersion: string, version: string): void {
    this.info.reset();
    this.info.set({ version, engine_version: engineVersion }, 1);
  }

  stepTook(step: TimedStep, seconds: number): void {
    this.phaseDuration.observe({ phase: step }, seconds);
  }

  pulled(bytes: number): void {
    if (bytes > 0) this.pullBytes.inc(bytes);
  }

  imageGcReclaimed(bytes: number, images: number): void {
    this.gcReclaimedBytes.inc(bytes);
    this.gcRemovedImages.inc(images);
  }

  stateFileError(file: StateFile, error: StateFileError): void {
    this.stateFileErrors.inc({ file, error });
  }

  restarted(reason: string): void {
    this.restarts.inc({ reason });
  }

  booted(mode: InitMode, seconds: number): void {
    this.bootDuration.observe({ init: mode }, seconds);
  }

  engineError(operation: string): void {
    this.engineErrors.inc({ operation });
  }

  /** On every request, probes included (see http-histogram.ts). */
  httpRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe(method, route, statusCode, seconds);
  }
}
