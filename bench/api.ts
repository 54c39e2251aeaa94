/**
 * HTTP benchmarks of the real daemon (`dist/main.js serve`, a child process), driven by autocannon on loopback:
 * - P3: `/healthz` requests/s, daemon vs a bare fastify hello-world with fastify's defaults (bench/bare-fastify.ts,
 *   also a child process), 50 connections, alternating rounds (which one goes first alternates too), each after an
 *   untimed warm-up. Besides requests/s, the CPU each server process spent per request (/proc/<pid>/stat), which
 *   the machine's other load disturbs less.
 * - P4: `/metrics` with 500 workspaces registered (PUT through the API; each names an image that is not on the node
 *   with pullPolicy never, so it settles as failed without a container): p99 latency with one connection (one
 *   Prometheus scrape at a time) and with ten, each sending its next scrape as soon as the last one answered.
 * Client and servers share the machine's cores.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { testDockerHost } from '../test/support/engine.js';
import { freePort } from './ports.js';
import { percentile, type SummaryRow } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
const WARM_UP_S = 1;

interface Measured {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the server process per request, in µs. */
  cpuMicros: number;
}

/** User + system CPU of a process, in µs (clock ticks are 10 ms on Linux). */
async function cpuMicros(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${String(pid)}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function measure(server: Server, path: string, connections: number, seconds = DURATION_S): Promise<Measured> {
  const before = await cpuMicros(server.pid);
  const result = await autocannon({ url: `${server.base}${path}`, connections, pipelining: 1, duration: seconds });
  const cpu = (await cpuMicros(server.pid)) - before;
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    cpuMicros: cpu / Math.max(1, result.requests.total),
  };
}

class Server {
  private constructor(
    readonly base: string,
    private readonly child: ChildProcess,
    private readonly cleanup: () => Promise<void>,
  ) {}

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the server has no pid');
    return this.child.pid;
  }

  /** Bare fastify: prints its port on stdout. */
  static async bare(): Promise<Server> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-fastify.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => {
        reject(new Error(`bench/bare-fastify.ts exited with ${String(code)}`));
      });
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (/^\d+$/.test(line)) resolve(line);
      });
    });
    return new Server(`http://127.0.0.1:${port}`, child, () => Promise.resolve());
  }

  /** The daemon on the test engine, once /v1 answers (connected to the engine, workspaces loaded). */
  static async daemon(): Promise<Server> {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvm-bench-api-'));
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/main.js', 'serve', '--listen', `127.0.0.1:${String(port)}`, '--state-dir', stateDir, '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, DOCKER_HOST: testDockerHost() },
      // Its log is not what is measured; a failure shows as errors in the figures.
      stdio: 'ignore',
    });
    const server = new Server(`http://127.0.0.1:${String(port)}`, child, () => rm(stateDir, { recursive: true, force: true }));
    for (let attempt = 0; attempt < 200; attempt++) {
      if ((await fetch(`${server.base}/v1/workspaces`).then((r) => r.status, () => 0)) === 200) return server;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await server.stop();
    throw new Error('the daemon did not start');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    await this.cleanup();
  }
}

const line = (name: string, m: Measured): string =>
  `${name.padEnd(34)} ${m.requestsPerSecond.toFixed(0).padStart(7)} req/s  p50 ${String(m.p50).padStart(3)} ms  p99 ${String(m.p99).padStart(3)} ms  CPU ${m.cpuMicros.toFixed(0).padStart(4)} µs/request  errors ${String(m.errors)}`;

/** P3: /healthz of the daemon vs bare fastify, `rounds` alternating rounds; the ratio of the medians of requests/s. */
export async function benchP3(rounds: number): Promise<SummaryRow[]> {
  const [bare, daemon] = [await Server.bare(), await Server.daemon()];
  try {
    await measure(bare, '/healthz', 50, WARM_UP_S);
    await measure(daemon, '/healthz', 50, WARM_UP_S);
    const runs = { bare: [] as Measured[], daemon: [] as Measured[] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['bare', 'daemon'] as const) : (['daemon', 'bare'] as const);
      for (const side of order) {
        const m = await measure(side === 'bare' ? bare : daemon, '/healthz', 50);
        runs[side].push(m);
        console.log(line(`P3 round ${String(round + 1)} ${side === 'bare' ? 'bare fastify' : 'daemon'} /healthz`, m));
      }
    }
    const median = (side: Measured[], pick: (m: Measured) => number) => percentile(side.map(pick), 50);
    const [bareRate, daemonRate] = [median(runs.bare, (m) => m.requestsPerSecond), median(runs.daemon, (m) => m.requestsPerSecond)];
    const [bareCpu, daemonCpu] = [median(runs.bare, (m) => m.cpuMicros), median(runs.daemon, (m) => m.cpuMicros)];
    const errors = [...runs.bare, ...runs.daemon].reduce((sum, m) => sum + m.errors, 0);
    // Each round's two runs saw nearly the same load: the figure is the median of the rounds' ratios.
    const ratios = runs.daemon.map((m, i) => m.requestsPerSecond / (runs.bare[i]?.requestsPerSecond ?? Number.NaN));
    const ratio = percentile(ratios, 50);
    const perRound = ratios.map((r) => r.toFixed(2)).join(' ');
    console.log(`P3 daemon / bare fastify, requests/s: median ${ratio.toFixed(2)} (rounds: ${perRound}); CPU per request ${daemonCpu.toFixed(0)} vs ${bareCpu.toFixed(0)} µs; errors ${String(errors)}`);
    return [{
      id: 'P3',
      what: `/healthz req/s vs bare fastify, 50 conn, ${String(rounds)}×${String(DURATION_S)} s`,
      figure: `×${ratio.toFixed(2)} (rounds ${perRound}); median ${daemonRate.toFixed(0)} vs ${bareRate.toFixed(0)} req/s; CPU ${daemonCpu.toFixed(0)} vs ${bareCpu.toFixed(0)} µs/req`,
      target: 'ratio ≥ 0.90',
      met: ratio >= 0.9 && errors === 0,
      runtime: 'none (no container)',
    }];
  } finally {
    await bare.stop();
    await daemon.stop();
  }
}

/** P4: /metrics with `workspaces` workspaces, one scraper then ten. */
export async function benchP4(workspaces: number): Promise<SummaryRow[]> {
  const daemon = await Server.daemon();
  try {
    for (let i = 0; i < workspaces; i++) {
      const res = await fetch(`${daemon.base}/v1/workspaces/bench-${String(i)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image: 'cvm-bench/not-on-this-node:1', pullPolicy: 'never', cvm: false }),
      });
      if (res.status !== 201 && res.status !== 200) throw new Error(`PUT bench-${String(i)}: ${String(res.status)} ${await res.text()}`);
    }
    await measure(daemon, '/metrics', 1, WARM_UP_S);
    const rows: SummaryRow[] = [];
    for (const [scrapers, goalMs] of [[1, 5], [10, 10]] as const) {
      const m = await measure(daemon, '/metrics', scrapers);
      console.log(line(`P4 /metrics, ${String(workspaces)} ws, ${String(scrapers)} conn`, m));
      rows.push({
        id: 'P4',
        what: `/metrics p99, ${String(workspaces)} workspaces, ${String(scrapers)} scraper${scrapers > 1 ? 's' : ''}`,
        figure: `p99 ${String(m.p99)} ms (p50 ${String(m.p50)} ms, ${m.requestsPerSecond.toFixed(0)} scrapes/s)`,
        target: `p99 ≤ ${String(goalMs)} ms`,
        met: m.p99 <= goalMs && m.errors === 0,
        runtime: 'none (no container)',
      });
    }
    return rows;
  } finally {
    await daemon.stop();
  }
}
