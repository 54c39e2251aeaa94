/**
 * Dockerfile.supervisor, built and run for real: built from the locally made base (scripts/build-test-images.sh;
 * no registry is reachable, so BASE_IMAGE is a debootstrap'd bookworm plus Node 24), without sysbox (it cannot be
 * downloaded here: SYSBOX_VERSION is empty), then run against the test engine with the engine socket and a token
 * file mounted. The probes are called from outside the container, through a published port.
 *
 * The engine keeps the build's layers, so a rerun rebuilds only what changed (normally the compiled dist/).
 * The supervising container itself runs under runc; the test engine's `sysbox-runc` is real sysbox, or the
 * test-only shim on machines without it (test/README.md).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, requireTestEngine, testDockerHost } from '../support/engine.js';
import { SUPERVISOR_BASE_IMAGE } from '../support/images.js';

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const suffix = randomBytes(4).toString('hex');
// A tag of its own, so that concurrent runs from other checkouts never swap the image under this one.
const imageTag = `cvm-test/supervisor:test-${suffix}`;
const containerName = `cvm-supervisor-image-${suffix}`;
// A network of its own: the image's port is published from it, not from the shared default bridge.
const networkName = `cvm-supervisor-image-${suffix}`;
const token = randomBytes(16).toString('hex');
const TOKEN_PATH = '/var/run/secrets/cvm-supervisor/token';
const BUILD_TIMEOUT_MS = 540_000;

let tempDir = '';
let base = '';

function engineSocketPath(): string {
  const host = testDockerHost();
  if (!host.startsWith('unix://')) {
    throw new Error(`the image test mounts the engine socket into the container, so DOCKER_HOST must be unix://…, not ${host}`);
  }
  return host.slice('unix://'.length);
}

/** Builds the image; on failure, throws the build's last lines so that the reason is in the test report. */
async function buildImage(): Promise<void> {
  const args = [
    // --force-rm: a failed step's container is removed too (the legacy builder keeps it otherwise).
    'build', '--force-rm', '--network', 'host', '-f', 'Dockerfile.supervisor',
    '--build-arg', `BASE_IMAGE=${SUPERVISOR_BASE_IMAGE}`,
    '--build-arg', 'SYSBOX_VERSION=',
    '--build-arg', `REVISION=test-${suffix}`,
    '-t', imageTag, '.',
  ];
  try {
    await execFileAsync('docker', args, {
      cwd: repoRoot,
      env: { ...process.env, DOCKER_HOST: testDockerHost(), DOCKER_BUILDKIT: '0' },
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const output = error instanceof Error && 'stdout' in error ? `${String(error.stdout)}\n${String((error as { stderr?: unknown }).stderr)}` : String(error);
    const tail = output.trim().split('\n').slice(-30).join('\n');
    throw new Error(`Dockerfile.supervisor did not build (docker ${args.join(' ')}):\n${tail}`, { cause: error });
  }
}

async function waitForStatus(path: string, wanted: number, timeoutMs: number): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === wanted) return { status: res.status, body };
      last = `${String(res.status)} ${body}`;
    } catch (error) {
      last = error instanceof Error ? `${error.message} ${error.cause instanceof Error ? error.cause.message : ''}` : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const logs = await docker(['logs', '--tail', '20', containerName]).catch((e: unknown) => String(e));
  throw new Error(`${path} did not answer ${String(wanted)} within ${String(timeoutMs)} ms (last: ${last}); container logs:\n${logs}`);
}

beforeAll(async () => {
  await requireTestEngine({ images: [SUPERVISOR_BASE_IMAGE] });
  const socket = engineSocketPath();
  await buildImage();
  tempDir = await mkdtemp(join(tmpdir(), 'cvm-image-test-'));
  const tokenFile = join(tempDir, 'token');
  await writeFile(tokenFile, `${token}\n`);
  await chmod(tokenFile, 0o600);
  await docker(['network', 'create', networkName]);
  await docker([
    'run', '-d', '--name', containerName, '--network', networkName,
    '-v', `${socket}:/var/run/docker.sock`,
    '-v', `${tokenFile}:${TOKEN_PATH}:ro`,
    '-p', '127.0.0.1::7070',
    // The image's own HEALTHCHECK command, checked more often than its 30 s so that the test need not wait.
    '--health-interval', '1s',
    imageTag,
  ]);
  const published = await docker(['port', containerName, '7070/tcp']);
  const address = published.split('\n').find((line) => line.startsWith('127.0.0.1:'));
  if (!address) throw new Error(`the container's port 7070 is not published on 127.0.0.1: ${published}`);
  base = `http://${address}`;
}, BUILD_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await docker(['rm', '-f', containerName]).catch(() => '');
  await docker(['network', 'rm', networkName]).catch(() => '');
  // --no-prune keeps the parent layers: they are the build cache for the next run.
  await docker(['rmi', '--no-prune', imageTag]).catch(() => '');
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
});

describe('the supervising image (Dockerfile.supervisor)', () => {
  it('answers 200 on /healthz and /readyz from outside the container, with the engine socket mounted', async () => {
    const health = await waitForStatus('/healthz', 200, 30_000);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
    const ready = await waitForStatus('/readyz', 200, 30_000);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready' });
  });

  it('listens beyond loopback only behind the mounted token', async () => {
    const without = await fetch(`${base}/v1/workspaces`);
    expect(without.status).toBe(401);
    const withToken = await fetch(`${base}/v1/workspaces`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    expect(await withToken.json()).toHaveProperty('workspaces');
  });

  it("reports healthy through the image's own HEALTHCHECK", async () => {
    const deadline = Date.now() + 30_000;
    let status = '';
    while (Date.now() < deadline) {
      status = await docker(['inspect', '-f', '{{.State.Health.Status}}', containerName]);
      if (status === 'healthy') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(status).toBe('healthy');
  });

  it('runs Node 24 as PID 1 in exec form, with OCI labels, docker.io, production dependencies only and no sysbox', async () => {
    const config = JSON.parse(await docker(['image', 'inspect', '-f', '{{json .Config}}', imageTag])) as {
      Entrypoint: string[];
      Cmd: string[];
      Labels: Record<string, string>;
      Healthcheck: { Test: string[] };
    };
    expect(config.Entrypoint).toEqual(['node', '/opt/cvm-supervisor/dist/main.js']);
    expect(config.Cmd).toEqual(['serve']);
    expect(config.Healthcheck.Test).toEqual(['CMD', 'node', '/opt/cvm-supervisor/dist/healthcheck.js']);
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'cvm-supervisor',
      'org.opencontainers.image.revision': `test-${suffix}`,
      'org.opencontainers.image.base.name': SUPERVISOR_BASE_IMAGE,
      'dev.cvm-supervisor.sysbox-version': '',
    });
    const probe = await docker([
      'run', '--rm', '--network', 'none', '--entrypoint', 'sh', imageTag, '-c',
      'node --version; dockerd --version; ' +
        'command -v sysbox-runc || echo no-sysbox; ls node_modules | grep -cE "^(typescript|vitest|eslint)$" || true',
    ]);
    const [nodeVersion, dockerd, sysbox, devDependencies] = probe.split('\n').map((line) => line.trim());
    expect(nodeVersion).toMatch(/^v24\./);
    expect(dockerd).toMatch(/^Docker version /);
    expect(sysbox).toBe('no-sysbox');
    expect(devDependencies).toBe('0');
    // PID 1 of the running daemon is node itself, so SIGTERM reaches it with no shell in between.
    const pid1 = await docker(['exec', containerName, 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline']);
    expect(pid1).toBe('node /opt/cvm-supervisor/dist/main.js serve');
  });

  it('stops on SIGTERM (docker stop) through the daemon\'s own graceful shutdown, exit 0', async () => {
    await docker(['stop', '-t', '30', containerName], 60_000);
    const exitCode = await docker(['inspect', '-f', '{{.State.ExitCode}}', containerName]);
    expect(exitCode).toBe('0');
    const logs = await docker(['logs', containerName]);
    expect(logs).toContain('"reason":"SIGTERM"');
    expect(logs).toContain('shutdown complete');
  });
});
