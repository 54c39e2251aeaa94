/**
 * deploy/grafana/cvm-supervisor.json: every metric a panel or variable queries exists in the daemon's /metrics, and
 * the dashboard shows what operators look for. /metrics comes from the real app (app.inject). The manager runs
 * over an engine whose every method throws: /metrics does not touch the engine, and no engine runs in unit tests.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/engine/types.js';
import { type ApiUnderTest, buildApiUnderTest } from '../../support/api.js';

const dashboardPath = new URL('../../../deploy/grafana/cvm-supervisor.json', import.meta.url);

const unreachableEngine = new Proxy({} as Engine, {
  get: (_target, property) => {
    if (property === 'then') return undefined;
    return () => {
      throw new Error(`engine.${String(property)}: not reachable in this test`);
    };
  },
});

/** PromQL words that are not metric names when no `(` follows them. */
const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset']);

/** The metric names an expression selects: strings, label matchers, ranges, grouping lists and calls removed. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (name === undefined || call !== undefined || PROMQL_WORDS.has(name)) continue;
    names.push(name);
  }
  return names;
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  datasource?: { uid: string };
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

let dashboard: Dashboard;
let api: ApiUnderTest;
/** Metric family name → type, from the `# TYPE` lines of /metrics. */
const families = new Map<string, string>();

/** Whether a series name is served: a family, or a histogram's or summary's _bucket/_sum/_count. */
function served(name: string): boolean {
  if (families.has(name)) return true;
  const suffix = /_(bucket|sum|count)$/.exec(name);
  if (!suffix) return false;
  const type = families.get(name.slice(0, suffix.index));
  return type === 'histogram' || (type === 'summary' && suffix[1] !== 'bucket');
}

function queriedMetrics(): Map<string, string[]> {
  const byMetric = new Map<string, string[]>();
  const add = (name: string, where: string) => byMetric.set(name, [...(byMetric.get(name) ?? []), where]);
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) for (const name of metricNames(target.expr)) add(name, panel.title);
  }
  for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query;
    const labelValues = /^label_values\(\s*([^,\s]+)\s*,/.exec(query);
    for (const name of labelValues ? [labelValues[1] ?? ''] : metricNames(query)) add(name, `variable $${variable.name}`);
  }
  return byMetric;
}

beforeAll(async () => {
  dashboard = JSON.parse(await readFile(dashboardPath, 'utf8')) as Dashboard;
  api = await buildApiUnderTest({ engine: unreachableEngine, started: true });
  const response = await api.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  for (const match of response.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(match[1] ?? '', match[2] ?? '');
});

afterAll(async () => {
  await api.close();
});

describe('metricNames (PromQL)', () => {
  it('finds the selected metrics and nothing else', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"x|y", b="c"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(x{phase="running"}) / ignoring(phase) group_left y + rate(z_total[5m] offset 1h)')).toEqual(['x', 'y', 'z_total']);
  });
});

describe('deploy/grafana/cvm-supervisor.json', () => {
  it('queries only metrics that /metrics serves', () => {
    const queried = queriedMetrics();
    expect(queried.size).toBeGreaterThan(5);
    const missing = [...queried].filter(([name]) => !served(name)).map(([name, where]) => `${name} (${where.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('would notice a metric that /metrics does not serve', () => {
    expect(served('cvm_supervisor_workspaces')).toBe(true);
    expect(served('cvm_supervisor_phase_duration_seconds_bucket')).toBe(true);
    expect(served('cvm_supervisor_workspaces_bucket')).toBe(false);
    expect(served('cvm_supervisor_no_such_metric_total')).toBe(false);
  });

  it('shows workspaces by phase, start-phase latency percentiles, boot time by init, pull throughput, restarts by reason and API latency', () => {
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replace(/\s+/g, ' ')));
    const some = (pattern: RegExp) => exprs.some((e) => pattern.test(e));
    expect(some(/sum by \(phase\) \(cvm_supervisor_workspaces\{/)).toBe(true);
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(some(new RegExp(`histogram_quantile\\(${q.replace('.', '\\.')}, sum by \\(le, phase\\) \\(rate\\(cvm_supervisor_phase_duration_seconds_bucket`))).toBe(true);
    }
    expect(some(/histogram_quantile\(0\.95, sum by \(le, init\) \(rate\(cvm_supervisor_workspace_boot_seconds_bucket/)).toBe(true);
    expect(some(/rate\(cvm_supervisor_image_pull_bytes_total\{/)).toBe(true);
    expect(some(/sum by \(reason\) \(increase\(cvm_supervisor_workspace_restarts_total\{/)).toBe(true);
    expect(some(/histogram_quantile\(0\.99, sum by \(le, route\) \(rate\(cvm_supervisor_http_request_duration_seconds_bucket/)).toBe(true);
  });

  it('takes its data source from a variable, so it imports into any Grafana', () => {
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
  });
});
