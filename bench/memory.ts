/**
 * P5: resident memory of the real daemon (`dist/main.js serve`) idle and with 500 workspaces registered, next to a
 * bare Node process that has loaded the same runtime dependencies. Both read from /proc/<pid>/status at the same
 * moments, each right after a full garbage collection (collect-garbage-on-signal.cjs): 3 s after start, idle
 * (IDLE_MS without work) and IDLE_MS after the PUTs. Without that collection the idle figure depended on whether
 * V8 had happened to collect yet: a daemon that allocates nothing while idle (its engine /info answer reused) kept
 * startup's young generation, 110 MB instead of 83.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { testDockerHost } from '../test/support/engine.js';
import type { SummaryRow } from './stats.js';
import { freePort } from './ports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETTLE_MS = 3_000;
const IDLE_MS = 30_000;

/** Node flags for both processes: see collect-garbage-on-signal.cjs. */
const COLLECT_ON_SIGNAL = ['--expose-gc', '--require', join(ROOT, 'bench', 'collect-garbage-on-signal.cjs')];

/** RSS after a full garbage collection (SIGUSR2, see COLLECT_ON_SIGNAL), so that V8's timing does not decide it. */
async function rssMegabytes(pid: number | undefined): Promise<number> {
  if (pid === undefined) throw new Error('no such process');
  process.kill(pid, 'SIGUSR2');
  await sleep(500);
  const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${String(pid)}`);
  return Number(kb) / 1024;
}

async function bareNodeWithDependencies(): Promise<ChildProcess> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const imports = Object.keys(pkg.dependencies).map((name) => `await import(${JSON.stringify(name)});`).join('');
  return spawn(process.execPath, [...COLLECT_ON_SIGNAL, '--input-type=module', '-e', `${imports} setInterval(() => {}, 1000);`], { cwd: ROOT, stdio: 'ignore' });
}

async function waitUntilStarted(base: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if ((await fetch(`${base}/v1/workspaces`).then((r) => r.status, () => 0)) === 200) return;
    await sleep(100);
  }
  throw new Error(`the daemon at ${base} did not start`);
}

export async function benchP5(workspaces: number): Promise<SummaryRow[]> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvm-bench-p5-'));
  const port = await freePort();
  const bare = await bareNodeWithDependencies();
  const daemon = spawn(process.execPath, [...COLLECT_ON_SIGNAL, 'dist/main.js', 'serve', '--listen', `127.0.0.1:${String(port)}`, '--state-dir', stateDir, '--log-level', 'warn', '--docker-host', testDockerHost()], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  try {
    const base = `http://127.0.0.1:${String(port)}`;
    await waitUntilStarted(base);
    await sleep(SETTLE_MS);
    const [bareStartRss, startRss] = [await rssMegabytes(bare.pid), await rssMegabytes(daemon.pid)];
    await sleep(IDLE_MS - SETTLE_MS);
    const [bareRss, idleRss] = [await rssMegabytes(bare.pid), await rssMegabytes(daemon.pid)];
    // Images not on the node with pullPolicy never: each settles as failed without a container.
    for (let i = 0; i < workspaces; i++) {
      const res = await fetch(`${base}/v1/workspaces/bench-p5-${String(i)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image: 'cvm-bench/not-on-this-node:1', pullPolicy: 'never', cvm: false }),
      });
      if (res.status !== 201 && res.status !== 200) throw new Error(`PUT bench-p5-${String(i)}: ${String(res.status)} ${await res.text()}`);
    }
    await sleep(IDLE_MS);
    const loadedRss = await rssMegabytes(daemon.pid);
    const growth = loadedRss - idleRss;
    console.log(`P5 RSS 3 s after start: bare node with the dependencies ${bareStartRss.toFixed(1)} MB, daemon ${startRss.toFixed(1)} MB`);
    console.log(`P5 RSS idle (${String(IDLE_MS / 1000)} s): bare node with the dependencies ${bareRss.toFixed(1)} MB; daemon ${idleRss.toFixed(1)} MB, with ${String(workspaces)} workspaces ${loadedRss.toFixed(1)} MB`);
    return [{
      id: 'P5',
      what: `RSS idle / ${String(workspaces)} workspaces (bare node+deps)`,
      figure: `${idleRss.toFixed(1)} / ${loadedRss.toFixed(1)} MB (+${growth.toFixed(1)}); bare ${bareRss.toFixed(1)} MB (at 3 s: ${startRss.toFixed(1)}; bare ${bareStartRss.toFixed(1)})`,
      target: '≤ 90 MB idle; ≤ +20 MB at 500',
      met: idleRss <= 90 && growth <= 20,
      runtime: 'none (no container)',
    }];
  } finally {
    bare.kill('SIGTERM');
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.once('exit', resolve));
    await rm(stateDir, { recursive: true, force: true });
  }
}
