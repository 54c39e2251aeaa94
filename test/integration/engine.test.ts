/**
 * The engine adapter (src/engine/docker.ts) against the real test engine, one behaviour of the Engine contract
 * (src/engine/types.ts) at a time. Every container and volume carries this run's label, so parallel runs on the
 * shared engine never see each other's and cleanup removes exactly ours.
 *
 * The test engine's `sysbox-runc` is real sysbox, or the test-only shim over runc on machines without it
 * (test/README.md); these tests hold on both.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/engine/docker.js';
import { EngineUnavailableError, PullError } from '../../src/engine/engine-errors.js';
import type { ContainerCreateSpec, EngineEvent } from '../../src/engine/types.js';
import { isDir, permissionBits } from '../../src/image/filemode.js';
import { CVM_RUNTIME, engineRequest, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_IMAGE, BUSYBOX_INIT_IMAGE } from '../support/images.js';

const engine = new DockerEngine({ dockerHost: testDockerHost() });
const labelKey = 'cvm-test.engine-run';
const labelValue = randomUUID();
const runLabel = `${labelKey}=${labelValue}`;
const runPart = labelValue.slice(0, 8);
const labels = { [labelKey]: labelValue };

function uniqueName(what: string): string {
  return `cvm-test-engine-${runPart}-${what}-${randomUUID().slice(0, 6)}`;
}

/** A busybox container that idles (sleep under the engine's init, which forwards signals). */
function sleeperSpec(name: string, extra: Partial<ContainerCreateSpec> = {}): ContainerCreateSpec {
  return { name, Image: BUSYBOX_IMAGE, Cmd: ['sleep', '3600'], Labels: labels, HostConfig: { Init: true }, ...extra };
}

/** Polls inspectContainer until the container is no longer running. */
async function waitUntilStopped(id: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await engine.inspectContainer(id))?.state.running === true) {
    if (Date.now() > deadline) throw new Error(`container ${id} still running after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Settles with how long `promise` took to settle and what it rejected with (undefined if it resolved). */
async function timedRejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
    return { error: undefined, ms: Date.now() - started };
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
}

beforeAll(async () => {
  await requireTestEngine({ images: [BUSYBOX_IMAGE, BUSYBOX_INIT_IMAGE], runtimes: [CVM_RUNTIME] });
  await removeLabelled(runLabel);
});

afterAll(async () => {
  await removeLabelled(runLabel);
});

describe('ping and info', () => {
  it('pings, and reports the registered runtimes and the server version', async () => {
    await expect(engine.ping()).resolves.toBeUndefined();
    const info = await engine.info();
    expect(info.runtimes).toEqual(expect.arrayContaining([CVM_RUNTIME, 'runc']));
    expect(info.serverVersion).not.toBe('');
    expect(info.apiVersion).toMatch(/^\d+\.\d+$/);
  });

  it('rejects ping with EngineUnavailableError, quickly, when no engine listens at the socket', async () => {
    const absent = new DockerEngine({ dockerHost: 'unix:///nonexistent.sock' });
    const { error, ms } = await timedRejection(absent.ping());
    expect(error).toBeInstanceOf(EngineUnavailableError);
    expect(ms).toBeLessThan(1_000);
  });
});

describe('images', () => {
  it('inspects a present tag, and answers undefined for a missing one', async () => {
    const present = await engine.inspectImage(BUSYBOX_IMAGE);
    expect(present?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // scripts/build-test-images.sh imports every busybox image with CMD ["/bin/sh"].
    expect(present?.config.cmd).toEqual(['/bin/sh']);
    expect(await engine.inspectImage(`cvm-test/no-such-image:${runPart}`)).toBeUndefined();
  });

  it('rejects a pull no registry can serve with PullError, without a progress callback', async () => {
    // Loopback port 1: nothing listens, so the engine's connection is refused.
    const { error, ms } = await timedRejection(engine.pullImage('127.0.0.1:1/none/such:1'));
    expect(error).toBeInstanceOf(PullError);
    expect((error as PullError).ref).toBe('127.0.0.1:1/none/such:1');
    expect(ms).toBeLessThan(10_000);
  });

  it('rejects a pull promptly when its signal is already aborted', async () => {
    const { error, ms } = await timedRejection(engine.pullImage('127.0.0.1:1/none/such:1', { signal: AbortSignal.abort() }));
    // A cancelled pull, as when the stream is cut mid-way (engine/pull.ts): not an unreachable engine.
    expect(error).toBeInstanceOf(PullError);
    expect((error as PullError).message).toMatch(/cancelled/);
    expect(ms).toBeLessThan(1_000);
  });

  it('rejects a pull promptly when its signal is aborted while the registry hangs', async () => {
    // A "registry" that accepts connections and never answers (the engine runs on this host: its loopback is ours),
    // so the pull cannot end by itself for many seconds.
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('hanging registry has no TCP port');
    try {
      const controller = new AbortController();
      const pull = timedRejection(engine.pullImage(`127.0.0.1:${address.port}/none/such:1`, { signal: controller.signal }));
      const abortAfterMs = 500;
      setTimeout(() => {
        controller.abort();
      }, abortAfterMs);
      const { error, ms } = await pull;
      expect(error).toBeInstanceOf(PullError);
      expect((error as PullError).message).toMatch(/cancelled/);
      expect(ms).toBeGreaterThanOrEqual(abortAfterMs - 50);
      expect(ms).toBeLessThan(abortAfterMs + 1_500);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});

describe('containers', () => {
  it('creates, starts, inspects, stops with the container StopSignal, and removes', { timeout: 30_000 }, async () => {
    const name = uniqueName('init');
    const volume = uniqueName('vol');
    const id = await engine.createContainer({
      name,
      Image: BUSYBOX_INIT_IMAGE,
      Entrypoint: ['/sbin/init'],
      Labels: labels,
      // busybox init powers off and exits 0 on SIGUSR2; API 1.41 ignores a per-request stop signal.
      StopSignal: 'SIGUSR2',
      HostConfig: {
        Runtime: CVM_RUNTIME,
        Init: false,
        Mounts: [
          { Type: 'volume', Source: volume, Target: '/data', VolumeOptions: { Labels: labels } },
          { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1 << 20 } },
        ],
      },
    });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await engine.inspectContainer(name))?.state.status).toBe('created');

    await engine.startContainer(id);
    const running = await engine.inspectContainer(id);
    expect(running).toMatchObject({
      id,
      name,
      labels: { [labelKey]: labelValue },
      state: { status: 'running', running: true },
      config: { entrypoint: ['/sbin/init'], stopSignal: 'SIGUSR2' },
      hostConfig: { runtime: CVM_RUNTIME, privileged: false, init: false },
    });
    expect(running?.state.pid).toBeGreaterThan(0);
    const dataMount = running?.mounts.find((m) => m.destination === '/data');
    expect(dataMount).toMatchObject({ type: 'volume', name: volume, rw: true });
    expect(dataMount?.source).toMatch(new RegExp(`/volumes/${volume}/_data$`));
    expect(running?.mounts.find((m) => m.destination === '/scratch')).toMatchObject({ type: 'tmpfs', name: null, rw: true });

    const stopTimeoutSeconds = 10;
    const started = Date.now();
    await engine.stopContainer(id, stopTimeoutSeconds);
    // Well under the timeout: the stop signal ended it, not the SIGKILL after the timeout.
    expect(Date.now() - started).toBeLessThan(stopTimeoutSeconds * 1000);
    const stopped = await engine.inspectContainer(id);
    expect(stopped?.state).toMatchObject({ status: 'exited', running: false, exitCode: 0, oomKilled: false });

    await expect(engine.stopContainer(id, 1)).resolves.toBeUndefined();
    await engine.removeContainer(id);
    expect(await engine.inspectContainer(id)).toBeUndefined();
    await expect(engine.removeContainer(id)).resolves.toBeUndefined();
  });

  it('maps the engine init flag and the default runtime', async () => {
    const id = await engine.createContainer(sleeperSpec(uniqueName('plain')));
    const details = await engine.inspectContainer(id);
    expect(details?.hostConfig).toMatchObject({ runtime: 'runc', privileged: false, init: true });
    expect(details?.mounts).toEqual([]);
  });

  it('answers undefined when inspecting a missing container, and stopping or removing one is not an error', async () => {
    const missing = uniqueName('missing');
    expect(await engine.inspectContainer(missing)).toBeUndefined();
    await expect(engine.stopContainer(missing, 1)).resolves.toBeUndefined();
    await expect(engine.removeContainer(missing, { force: true })).resolves.toBeUndefined();
  });

  it('lists containers by label', async () => {
    const name = uniqueName('listed');
    const id = await engine.createContainer(sleeperSpec(name, { Labels: { ...labels, 'cvm-test.engine-listed': name } }));
    const listed = await engine.listContainers([runLabel, `cvm-test.engine-listed=${name}`]);
    expect(listed).toMatchObject([{ id, name, image: BUSYBOX_IMAGE, labels: { [labelKey]: labelValue }, state: 'created' }]);
    expect(listed).toHaveLength(1);
  });
});

describe('exec', () => {
  let container = '';

  beforeAll(async () => {
    container = await engine.createContainer(sleeperSpec(uniqueName('exec')));
    await engine.startContainer(container);
  });

  /** Runs an exec and collects what it wrote on each stream. */
  async function run(cmd: string[], extra: { user?: string; stdin?: string } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    const { exitCode } = await engine.exec(container, {
      cmd,
      ...extra,
      onOutput: (stream, chunk) => {
        out[stream].push(chunk);
      },
    });
    return { exitCode, stdout: Buffer.concat(out.stdout).toString('utf8'), stderr: Buffer.concat(out.stderr).toString('utf8') };
  }

  it('propagates the exit code', async () => {
    expect((await run(['sh', '-c', 'exit 3'])).exitCode).toBe(3);
    expect((await run(['true'])).exitCode).toBe(0);
  });

  it('delivers stdin', async () => {
    expect(await run(['cat'], { stdin: 'hello' })).toEqual({ exitCode: 0, stdout: 'hello', stderr: '' });
  });

  it('keeps stderr apart from stdout', async () => {
    expect(await run(['sh', '-c', 'echo out; echo err >&2; exit 1'])).toEqual({ exitCode: 1, stdout: 'out\n', stderr: 'err\n' });
  });

  it('answers a missing executable with exit code 126 and the engine\'s message, without throwing', async () => {
    // The systemd boot check relies on this to tell an image without /bin/sh (boot-checks.ts).
    const answer = await run(['/bin/no-such-shell', '-c', 'true']);
    expect(answer.exitCode).toBe(126);
    expect(answer.stdout + answer.stderr).toMatch(/no-such-shell.*no such file or directory/);
  });

  it('runs as the given user', async () => {
    expect((await run(['id', '-un'], { user: 'coder' })).stdout).toBe('coder\n');
    expect((await run(['id', '-un'])).stdout).toBe('root\n');
  });
});

describe('archive: putFiles, statPath, readFile on a never-started container', () => {
  it('round-trips an executable file in a new nested directory', async () => {
    const id = await engine.createContainer(sleeperSpec(uniqueName('archive')));
    const content = `#!/bin/sh\necho ${runPart}\n`;
    await engine.putFiles(id, '/', [{ path: 'opt/cvm-test/nested/tool.sh', content, mode: 0o755 }]);

    expect(isDir((await engine.statPath(id, '/opt/cvm-test/nested'))?.mode ?? 0)).toBe(true);
    const stat = await engine.statPath(id, '/opt/cvm-test/nested/tool.sh');
    expect(stat).toMatchObject({ name: 'tool.sh', size: Buffer.byteLength(content), linkTarget: '' });
    expect(permissionBits(stat?.mode ?? 0)).toBe(0o755);

    const size = Buffer.byteLength(content);
    expect((await engine.readFile(id, '/opt/cvm-test/nested/tool.sh', size))?.toString('utf8')).toBe(content);
    expect(await engine.readFile(id, '/opt/cvm-test/nested/tool.sh', size - 1)).toBeUndefined();
  });
});

describe('volumes', () => {
  it('creates with labels, inspects, lists by label, and removes', async () => {
    const name = uniqueName('volume');
    const own = `cvm-test.engine-volume=${name}`;
    const created = await engine.createVolume(name, { ...labels, 'cvm-test.engine-volume': name });

    const details = await engine.inspectVolume(name);
    expect(details).toMatchObject({ name, labels: { [labelKey]: labelValue, 'cvm-test.engine-volume': name }, driver: 'local', options: {} });
    expect(details?.mountpoint).not.toBe('');
    expect(created).toEqual(details);
    // Making it again answers with the volume that exists, its labels unchanged.
    expect(await engine.createVolume(name, { ...labels, 'cvm-test.engine-volume': 'someone-else' })).toEqual(details);
    expect((await engine.listVolumes([runLabel, own])).map((v) => v.name)).toEqual([name]);

    await engine.removeVolume(name);
    expect(await engine.inspectVolume(name)).toBeUndefined();
    expect(await engine.listVolumes([own])).toEqual([]);
    await expect(engine.removeVolume(name)).resolves.toBeUndefined();
  });
});

describe('events', () => {
  it('replays a past die event from a since-cursor, and ends without throwing once aborted', { timeout: 30_000 }, async () => {
    const name = uniqueName('events');
    const id = await engine.createContainer(sleeperSpec(name));
    const cursor = BigInt(Date.now()) * 1_000_000n;
    await engine.startContainer(id);
    // Killed past the adapter, so this test depends only on what it checks.
    expect((await engineRequest('POST', `/containers/${id}/kill?signal=SIGKILL`)).status).toBe(204);
    await waitUntilStopped(id, 10_000);

    const controller = new AbortController();
    // If the die event never comes, stop waiting and let the assertions below say so.
    const giveUp = setTimeout(() => {
      controller.abort();
    }, 10_000);
    const seen: EngineEvent[] = [];
    const iterator = engine.events({ since: cursor, filters: { type: ['container'], label: [runLabel] }, signal: controller.signal })[Symbol.asyncIterator]();
    try {
      let die: EngineEvent | undefined;
      while (!die) {
        const next = await iterator.next();
        if (next.done === true) break;
        seen.push(next.value);
        if (next.value.id === id && next.value.action === 'die') die = next.value;
      }
      expect(die, `events seen: ${JSON.stringify(seen.map((e) => `${e.action} ${e.id.slice(0, 12)}`))}`).toBeDefined();
      expect(die?.type).toBe('container');
      expect(die?.attributes).toMatchObject({ [labelKey]: labelValue, name, image: BUSYBOX_IMAGE, exitCode: '137' });
      expect(die?.timeNano).toBeGreaterThanOrEqual(cursor);
      // Replayed in order: the start came before the die.
      expect(seen.findIndex((e) => e.id === id && e.action === 'start')).toBeGreaterThanOrEqual(0);

      controller.abort();
      // Anything already buffered may still come; then the iterator ends rather than throwing.
      let end = await iterator.next();
      for (let extra = 0; end.done !== true && extra < 20; extra++) end = await iterator.next();
      expect(end.done).toBe(true);
    } finally {
      clearTimeout(giveUp);
      controller.abort();
    }
  });
});
