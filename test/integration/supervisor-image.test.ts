/**
 * Dockerfile.supervisor, built and run for real: built by scripts/build-supervisor-image.sh from the locally made
 * base (no registry is reachable, so BASE_IMAGE is a debootstrap'd bookworm plus Node 24) with --sysbox-bin: the
 * real sysbox binaries the test engine runs (the release package cannot be downloaded here). Then run against the
 * test engine with the engine socket and a token file mounted; the probes are called from outside the container,
 * through a published port. The image as the outer container of embedded mode: supervisor-image-envbox.test.ts.
 *
 * The engine keeps the build's layers, so a rerun rebuilds only what changed (normally the compiled dist/).
 * The supervising container itself runs under runc; the test engine's `sysbox-runc` is real sysbox, or the
 * test-only shim on machines without it (test/README.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, requireTestEngine, testDockerHost } from '../support/engine.js';
import { SUPERVISOR_BASE_IMAGE } from '../support/images.js';
import { buildSupervisorImage, IMAGE_BUILD_TIMEOUT_MS, realSysboxBinaries, type SysboxBinaries } from '../support/supervisor-image.js';

const suffix = randomBytes(4).toString('hex');
// A tag of its own, so that concurrent runs from other checkouts never swap the image under this one.
const imageTag = `cvm-test/supervisor:test-${suffix}`;
const containerName = `cvm-supervisor-image-${suffix}`;
// A network of its own: the image's port is published from it, not from the shared default bridge.
const networkName = `cvm-supervisor-image-${suffix}`;
const token = randomBytes(16).toString('hex');
const TOKEN_PATH = '/var/run/secrets/cvm-supervisor/token';
const SYSBOX_NAMES = ['sysbox-runc', 'sysbox-mgr', 'sysbox-fs'];

let tempDir = '';
let base = '';
let sysbox: SysboxBinaries = { missing: 'not looked for yet' };

function engineSocketPath(): string {
  const host = testDockerHost();
  if (!host.startsWith('unix://')) {
    throw new Error(`the image test mounts the engine socket into the container, so DOCKER_HOST must be unix://…, not ${host}`);
  }
  return host.slice('unix://'.length);
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
  sysbox = await realSysboxBinaries();
  await buildSupervisorImage(imageTag, { sysbox, revision: `test-${suffix}` });
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
}, IMAGE_BUILD_TIMEOUT_MS + 60_000);

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

  it('runs Node 24 as PID 1 in exec form, with OCI labels, docker.io, what embedded mode runs, production dependencies only', async () => {
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
      'dev.cvm-supervisor.sysbox-version': 'version' in sysbox ? sysbox.version : '',
    });
    // ip: embedded mode makes its bridge; rsync, fusermount3, modprobe, iptables: what sysbox and dockerd run.
    const probe = await docker([
      'run', '--rm', '--network', 'none', '--entrypoint', 'sh', imageTag, '-c',
      'node --version; dockerd --version; ls node_modules | grep -cE "^(typescript|vitest|eslint)$" || true; ' +
        'for tool in ip rsync fusermount3 modprobe iptables; do command -v $tool >/dev/null || echo "missing $tool"; done',
    ]);
    const [nodeVersion, dockerd, devDependencies, ...missing] = probe.split('\n').map((line) => line.trim());
    expect(nodeVersion).toMatch(/^v24\./);
    expect(dockerd).toMatch(/^Docker version /);
    expect(devDependencies).toBe('0');
    expect(missing).toEqual([]);
    // PID 1 of the running daemon is node itself, so SIGTERM reaches it with no shell in between.
    const pid1 = await docker(['exec', containerName, 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline']);
    expect(pid1).toBe('node /opt/cvm-supervisor/dist/main.js serve');
  });

  it('carries the sysbox binaries it was built with (--sysbox-bin), and they run in it', async (context) => {
    const built = sysbox;
    if ('missing' in built) {
      context.skip(`no real sysbox on this machine: ${built.missing}`);
      return;
    }
    const dir = built.dir;
    const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(join(dir, file))).digest('hex');
    const expected = await Promise.all(SYSBOX_NAMES.map(async (name) => `${await sha256(name)}  /usr/bin/${name}`));
    const inImage = await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sha256sum', imageTag, ...SYSBOX_NAMES.map((n) => `/usr/bin/${n}`)]);
    expect(inImage.split('\n')).toEqual(expected);
    // Each one runs in the image (its libraries are there) and names its version.
    const answers = await docker([
      'run', '--rm', '--network', 'none', '--entrypoint', 'sh', imageTag, '-c', 'for b in "$@"; do "$b" --version; echo ---; done', 'sh', ...SYSBOX_NAMES,
    ]);
    const versions = answers.split('---').slice(0, -1).map((block) => {
      const lines = block.trim().split('\n');
      return `${lines[0] ?? ''} ${/^\s*version:\s*(\S+)/m.exec(block)?.[1] ?? 'no version'}`;
    });
    expect(versions).toEqual(SYSBOX_NAMES.map((name) => `${name} ${built.version}`));
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
