/**
 * What only real sysbox gives a CVM, through the product (a WorkspaceManager with its real collaborators, as the
 * daemon wires it): the systemd test image boots with systemd as PID 1 inside a user namespace, Docker runs inside
 * it, a nested `docker run` works, and the inner Docker's images live in the `dockerData` volume, so they survive
 * stop/start and rebuild. On the test-only shim (no user namespace, no Docker inside) every test here is skipped, and
 * the describe's name says why. Prints the figures it measures (boot, nested run, stop) as `figure:` lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CVM_RUNTIME, docker, requireTestEngine } from '../support/engine.js';
import { detectCvmRuntime, IDENTITY_UID_MAP, userNamespaceOf } from '../support/cvm-runtime.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../support/images.js';
import { buildInInnerDocker, innerImages, loadIntoInnerDocker } from '../support/inner-docker.js';
import { inspectRaw, ManagerHarness } from '../support/manager.js';
import { systemState } from '../support/systemd.js';

const runtime = await detectCvmRuntime();
const title = runtime.real
  ? `a systemd CVM with Docker inside, on ${runtime.description}`
  : `a systemd CVM with Docker inside (skipped: only real sysbox runs Docker in a user namespace; the CVM runtime here is ${runtime.description})`;
/** sysbox 0.6.7 lets no CVM mount these kernel file systems, so systemd reports `degraded` for them, and only them. */
const UNMOUNTABLE_IN_SYSBOX = ['sys-kernel-config.mount', 'sys-kernel-debug.mount', 'sys-kernel-tracing.mount'];
const BUILT = 'cvm-inner/built:1';
const BUILT_DOCKERFILE = `FROM ${BUSYBOX_IMAGE}\nRUN echo built-inside > /built\n`;
/** The container's StopTimeout for systemd: the engine SIGKILLs after it. */
const SYSTEMD_STOP_TIMEOUT_MS = 30_000;

interface RawContainer {
  Id: string;
  State: { Status: string; ExitCode: number };
  Config: { StopSignal?: string };
  Mounts: { Type: string; Name?: string; Destination: string }[];
}
const inspect = async (name: string): Promise<RawContainer> => (await inspectRaw(name)) as unknown as RawContainer;

function figure(what: string, ms: number): void {
  console.log(`figure: ${what}: ${(ms / 1000).toFixed(1)} s (CVM runtime ${runtime.description})`);
}

/** Waits for systemd to settle and returns its state, with the time it took from `since`. */
async function settled(container: string, since: number): Promise<{ state: string; ms: number }> {
  const state = await systemState(container, 120_000);
  return { state, ms: performance.now() - since };
}

async function failedUnits(container: string): Promise<string[]> {
  const out = await docker(['exec', container, 'systemctl', 'list-units', '--failed', '--plain', '--no-legend', '--no-pager']);
  return out.split('\n').map((line) => line.split(/\s+/)[0] ?? '').filter((unit) => unit !== '').sort();
}

async function innerRun(container: string, image: string, command: string): Promise<string> {
  return docker(['exec', container, 'docker', 'run', '--rm', image, 'sh', '-c', command], 120_000);
}

describe.skipIf(!runtime.real)(title, () => {
  let h: ManagerHarness;

  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME] });
    h = await ManagerHarness.create('cvmdind');
  });
  afterAll(async () => {
    await h.cleanup();
  });

  describe('with a dockerData volume', () => {
    let id: string;
    let name: string;

    beforeAll(() => {
      id = h.id('data');
      name = `cvm-${id}`;
    });

    it('boots systemd as PID 1 to running or degraded (only the kernel file systems sysbox withholds fail), docker.service active', { timeout: 180_000 }, async () => {
      const put = performance.now();
      await h.manager.put(id, { image: BOOKWORM_SYSTEMD_IMAGE, username: 'coder', pullPolicy: 'never', dockerData: { volume: `cvm-${id}-docker` } });
      const status = await h.waitFor(id, 'running', 120_000);
      const running = performance.now() - put;
      const { state, ms } = await settled(name, put);
      figure('systemd CVM boot, PUT → phase running', running);
      figure(`systemd CVM boot, PUT → systemctl is-system-running settled (${state})`, ms);
      expect(status).toMatchObject({ runtime: CVM_RUNTIME, init: { mode: 'systemd' } });
      expect(await docker(['exec', name, 'cat', '/proc/1/comm'])).toBe('systemd');
      expect(['running', 'degraded']).toContain(state);
      for (const unit of await failedUnits(name)) expect(UNMOUNTABLE_IN_SYSBOX).toContain(unit);
      expect(await docker(['exec', name, 'systemctl', 'is-active', 'docker.service'])).toBe('active');
    });

    it('runs in a user namespace: root inside is an unprivileged uid on the host', async () => {
      const { uidMap, pid1HostUid } = await userNamespaceOf(name);
      expect(uidMap).not.toEqual(IDENTITY_UID_MAP);
      // sysbox maps root inside to a range of its own (0 100000 65536), and systemd runs as that uid on the host.
      const [inside, onHost, count] = uidMap[0] ?? [];
      expect(inside).toBe(0);
      expect(onHost).toBeGreaterThan(0);
      expect(count).toBeLessThanOrEqual(65536);
      expect(pid1HostUid).toBe(onHost);
    });

    it('runs a nested docker run, and a docker build, of an image loaded into the inner Docker', { timeout: 300_000 }, async () => {
      await loadIntoInnerDocker(name, BUSYBOX_IMAGE);
      const started = performance.now();
      expect(await innerRun(name, BUSYBOX_IMAGE, 'echo nested-$(id -u)')).toBe('nested-0');
      figure('nested docker run --rm (busybox echo) inside the systemd CVM', performance.now() - started);
      await buildInInnerDocker(name, BUILT, BUILT_DOCKERFILE);
      expect(await innerRun(name, BUILT, 'cat /built')).toBe('built-inside');
    });

    it('stops on SIGRTMIN+3 with exit 0, well within the stop timeout', { timeout: 120_000 }, async () => {
      expect((await inspect(name)).Config.StopSignal).toBe('SIGRTMIN+3');
      const started = performance.now();
      await h.manager.stop(id);
      await h.manager.idle();
      const ms = performance.now() - started;
      figure('systemd CVM stop (docker in it, SIGRTMIN+3 → exited)', ms);
      expect(h.manager.get(id).phase).toBe('stopped');
      // The engine's SIGKILL after the timeout would give 137.
      expect((await inspect(name)).State).toMatchObject({ Status: 'exited', ExitCode: 0 });
      expect(ms).toBeLessThan(SYSTEMD_STOP_TIMEOUT_MS);
    });

    it('keeps the inner images across stop and start', { timeout: 180_000 }, async () => {
      const started = performance.now();
      await h.manager.start(id);
      await h.waitFor(id, 'running', 120_000);
      expect(['running', 'degraded']).toContain((await settled(name, started)).state);
      expect(await innerImages(name)).toEqual([BUILT, BUSYBOX_IMAGE].sort());
      expect(await innerRun(name, BUILT, 'cat /built')).toBe('built-inside');
    });

    it('keeps the inner images across a rebuild: a new container on the same dockerData volume', { timeout: 240_000 }, async () => {
      const before = h.manager.get(id).containerId;
      await h.manager.rebuild(id);
      await h.manager.idle();
      const after = h.manager.get(id);
      expect(after.phase).toBe('running');
      expect(after.containerId).not.toBe(before);
      expect((await inspect(name)).Mounts).toContainEqual(expect.objectContaining({ Type: 'volume', Name: `cvm-${id}-docker`, Destination: '/var/lib/docker' }));
      expect(['running', 'degraded']).toContain((await settled(name, performance.now())).state);
      expect(await innerImages(name)).toEqual([BUILT, BUSYBOX_IMAGE].sort());
      expect(await innerRun(name, BUILT, 'cat /built')).toBe('built-inside');
    });
  });

  it('without dockerData, a rebuild starts with an empty inner Docker (so the volume is what keeps the images)', { timeout: 300_000 }, async () => {
    const id = h.id('nodata');
    const name = `cvm-${id}`;
    await h.manager.put(id, { image: BOOKWORM_SYSTEMD_IMAGE, pullPolicy: 'never' });
    await h.waitFor(id, 'running', 120_000);
    await settled(name, performance.now());
    await loadIntoInnerDocker(name, BUSYBOX_IMAGE);
    expect(await innerImages(name)).toEqual([BUSYBOX_IMAGE]);
    await h.manager.rebuild(id);
    await h.manager.idle();
    expect(h.manager.get(id).phase).toBe('running');
    await settled(name, performance.now());
    expect(await innerImages(name)).toEqual([]);
  });
});
