/**
 * HTTP throughput and latency of the daemon next to a bare fastify hello-world, in the same run, on loopback.
 *
 *   npm run bench:api            (needs the test engine: bash scripts/engine.sh start; scripts/build-test-images.sh)
 *
 * - /healthz of the real daemon (`dist/main.js serve`) vs `/healthz` of bare fastify: the ratio of requests/s.
 * - /metrics with 500 workspaces registered (PUT through the API; each names an image that is not on the node with
 *   pullPolicy never, so it settles as failed without a container): p99 latency with one connection, as a
 *   Prometheus scrape, and with 10 concurrent scrapers.
 * Servers run in child processes; autocannon runs here. Goals: healthz ≥ 0.9 × bare, metrics p99 ≤ 5 ms.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { testDockerHost } from '../test/support/engine.js';
import { freePort } from './ports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
const WORKSPACES = 500;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

interface Measured {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(url: string, connections: number): Promise<Measured> {
  const result = await autocannon({ url, connections, pipelining: 1, duration: DURATION_S });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

/** The run with the median throughput. */
function median(runs: Measured[]): Measured {
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  const middle = sorted[Math.floor(sorted.length / 2)];
  if (!middle) throw new Error('no runs');
  return middle;
}

/** Starts a child and resolves with the first stdout line that `pick` accepts. */
function start(args: string[], pick: (line: string) => string | null): Promise<{ child: ChildProcess; value: string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`${args.join(' ')} exited with ${code}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const value = pick(line);
      if (value !== null) resolve({ child, value });
    });
  });
}

/** Until /v1 answers: the daemon has connected to the engine and loaded its workspaces. */
async function waitUntilStarted(base: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const status = await fetch(`${base}/v1/workspaces`).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the daemon at ${base} did not start`);
}

async function putWorkspaces(base: string): Promise<void> {
  for (let i = 0; i < WORKSPACES; i++) {
    const res = await fetch(`${base}/v1/workspaces/bench-${i}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: 'cvm-bench/not-on-this-node:1', pullPolicy: 'never', cvm: false }),
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`PUT bench-${i}: ${res.status} ${await res.text()}`);
  }
}

const row = (name: string, m: Measured): string =>
  `${name.padEnd(28)} ${m.requestsPerSecond.toFixed(0).padStart(8)} req/s   p50 ${String(m.p50).padStart(4)} ms   p99 ${String(m.p99).padStart(4)} ms   errors ${m.errors}`;

const stateDir = await mkdtemp(join(tmpdir(), 'cvm-bench-'));
const bare = await start(['--import', 'tsx', 'bench/bare-fastify.ts'], (line) => (/^\d+$/.test(line) ? line : null));
const daemonPort = await freePort();
const daemon = spawn(process.execPath, ['dist/main.js', 'serve', '--listen', `127.0.0.1:${daemonPort}`, '--state-dir', stateDir, '--log-level', 'warn'], {
  cwd: ROOT,
  env: { ...process.env, DOCKER_HOST: testDockerHost() },
  // Its log is not what is measured; a failure shows as errors in the figures.
  stdio: 'ignore',
});
try {
  const base = `http://127.0.0.1:${daemonPort}`;
  await waitUntilStarted(base);
  // Client and servers share 2 cores, so single runs are noisy: alternate and take the median of each.
  const bareRuns: Measured[] = [];
  const daemonRuns: Measured[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bareRuns.push(await measure(`http://127.0.0.1:${bare.value}/healthz`, 50));
    daemonRuns.push(await measure(`${base}/healthz`, 50));
  }
  const bareHealth = median(bareRuns);
  const daemonHealth = median(daemonRuns);
  await putWorkspaces(base);
  // Prometheus scrapes one request at a time; 50 connections would measure queueing, not the scrape.
  const metrics = await measure(`${base}/metrics`, 1);
  const metricsLoaded = await measure(`${base}/metrics`, 10);
  console.log(`bench/api: ${DURATION_S} s a run, loopback; /healthz with 50 connections, median of ${ROUNDS} alternating runs`);
  console.log(row('bare fastify /healthz', bareHealth));
  console.log(row('daemon /healthz', daemonHealth));
  console.log(row(`daemon /metrics (${WORKSPACES} ws, 1 conn)`, metrics));
  console.log(row(`daemon /metrics (${WORKSPACES} ws, 10 conn)`, metricsLoaded));
  console.log(`healthz ratio (daemon / bare fastify): ${(daemonHealth.requestsPerSecond / bareHealth.requestsPerSecond).toFixed(2)} (goal >= 0.9)`);
  console.log(`metrics p99: ${metrics.p99} ms (goal <= 5 ms)`);
} finally {
  bare.child.kill('SIGTERM');
  daemon.kill('SIGTERM');
  await rm(stateDir, { recursive: true, force: true });
}
