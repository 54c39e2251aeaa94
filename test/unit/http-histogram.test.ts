/** The hand-kept HTTP histogram against prom-client's own Histogram as the oracle: the same samples for the same observations. */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HttpRequestHistogram } from '../../src/http-histogram.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** On a bound, between bounds, above every bound, zero; several series; a label value the format must escape. */
const OBSERVATIONS: [string, string, number, number][] = [
  ['GET', '/healthz', 200, 0.0004],
  ['GET', '/healthz', 200, 0.001],
  ['GET', '/healthz', 200, 3],
  ['GET', '/healthz', 503, 0.0025],
  ['PUT', '/v1/workspaces/:id', 201, 0.02],
  ['HEAD', 'unmatched', 404, 0],
  ['GET', '/a"b\\c\nd', 200, 0.7],
];

function both() {
  const expected = new Registry();
  const oracle = new Histogram({ name: 'h_seconds', help: 'requests', labelNames: ['method', 'route', 'status_code'], buckets: BUCKETS, registers: [expected] });
  const actual = new Registry();
  const histogram = new HttpRequestHistogram('h_seconds', 'requests', BUCKETS);
  actual.registerMetric(histogram.asMetric());
  for (const [method, route, status, seconds] of OBSERVATIONS) {
    oracle.observe({ method, route, status_code: String(status) }, seconds);
    histogram.observe(method, route, status, seconds);
  }
  return { expected, actual, histogram };
}

/** Series may come in another order; Prometheus reads each line on its own. */
const lines = (text: string): string[] => text.split('\n').sort();

describe('HttpRequestHistogram', () => {
  it("renders the same exposition lines as prom-client's Histogram", async () => {
    const { expected, actual } = both();
    const text = await actual.metrics();
    expect(lines(text)).toEqual(lines(await expected.metrics()));
    expect(text).toContain('h_seconds_bucket{le="0.001",method="GET",route="/healthz",status_code="200"} 2');
    expect(text).toContain('h_seconds_bucket{le="+Inf",method="GET",route="/healthz",status_code="200"} 3');
  });

  it("gives prom-client's JSON samples, every label on each", async () => {
    const { expected, actual } = both();
    const [ours] = await actual.getMetricsAsJSON();
    const [theirs] = await expected.getMetricsAsJSON();
    // prom-client's type leaves metricName out of its samples; its histograms give it.
    const samples = (metric: typeof ours) =>
      (metric?.values ?? []).map((sample) => JSON.stringify([(sample as { metricName?: string }).metricName, sample.value, Object.entries(sample.labels).sort()])).sort();
    expect(samples(ours)).toEqual(samples(theirs));
    expect(ours).toMatchObject({ name: 'h_seconds', help: 'requests', type: 'histogram' });
  });

  it('forgets every series on reset (registry.resetMetrics)', async () => {
    const { actual, histogram } = both();
    actual.resetMetrics();
    expect(await actual.metrics()).not.toContain('h_seconds_count');
    histogram.observe('GET', '/healthz', 200, 0.002);
    expect(await actual.metrics()).toContain('h_seconds_count{method="GET",route="/healthz",status_code="200"} 1');
  });
});
