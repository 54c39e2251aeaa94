/**
 * The HTTP request histogram, kept by hand. prom-client's Histogram validates, sorts and hashes the labels and
 * looks its bucket up by a number-keyed object on every observation: on `/healthz` that was the largest share of
 * the daemon's work per request beyond a bare fastify's (bench/README.md, P3). Here an observation is three map
 * lookups, a bucket search and three additions. The registry renders it at scrape time through `get()`, in the
 * shape prom-client's own histograms give it.
 */
import type { Metric } from 'prom-client';

/** One label set: counts per bucket (not cumulative), their sum and count. */
interface Series {
  /** Stable per series: the registry formats a shared label set once. */
  labels: Record<string, string>;
  counts: Float64Array;
  sum: number;
  count: number;
}

interface Sample {
  metricName: string;
  value: number;
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
}

interface MetricData {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Sample[];
}

export class HttpRequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** method → route → status code → series. */
  private series = new Map<string, Map<string, Map<number, Series>>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  /** What prom-client's Registry.registerMetric takes; the registry calls `get()`, `getForPromString()` and `reset()`. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }

  observe(method: string, route: string, statusCode: number, seconds: number): void {
    let routes = this.series.get(method);
    if (routes === undefined) {
      routes = new Map();
      this.series.set(method, routes);
    }
    let statuses = routes.get(route);
    if (statuses === undefined) {
      statuses = new Map();
      routes.set(route, statuses);
    }
    let series = statuses.get(statusCode);
    if (series === undefined) {
      series = { labels: { method, route, status_code: String(statusCode) }, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      statuses.set(statusCode, series);
    }
    let bucket = 0;
    while (bucket < this.buckets.length && seconds > (this.buckets[bucket] ?? Infinity)) bucket++;
    if (bucket < this.buckets.length) series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
    series.sum += seconds;
    series.count += 1;
  }

  reset(): void {
    this.series = new Map();
  }

  /** For prom-client's JSON (and cluster aggregation): every label on each sample, as its own histograms give them. */
  get(): Promise<MetricData> {
    return Promise.resolve(this.data(true));
  }

  /** For the text the registry renders: the series' labels apart, which the registry formats once per series. */
  getForPromString(): Promise<MetricData> {
    return Promise.resolve(this.data(false));
  }

  private data(splay: boolean): MetricData {
    const values: Sample[] = [];
    const sample = (metricName: string, value: number, labels: Sample['labels'], series: Series): void => {
      values.push(splay ? { metricName, value, labels: { ...labels, ...series.labels }, sharedLabels: {} } : { metricName, value, labels, sharedLabels: series.labels });
    };
    const bucketName = `${this.name}_bucket`;
    for (const routes of this.series.values()) {
      for (const statuses of routes.values()) {
        for (const series of statuses.values()) {
          let cumulative = 0;
          this.buckets.forEach((le, index) => {
            cumulative += series.counts[index] ?? 0;
            sample(bucketName, cumulative, { le }, series);
          });
          sample(bucketName, series.count, { le: '+Inf' }, series);
          sample(`${this.name}_sum`, series.sum, {}, series);
          sample(`${this.name}_count`, series.count, {}, series);
        }
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
