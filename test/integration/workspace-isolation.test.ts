/**
 * The security boundary seen from the engine and from inside a workspace. The daemon runs as `serve` builds it
 * (startDaemon, token file) and listens on the test engine's bridge gateway, so workspaces can reach its port:
 * the token is the wall. Workspaces are made through the HTTP API with every option this branch has turned on
 * (FUSE, TUN, a read-only user mount, CPU and memory limits, home and dockerData volumes, env, hostname,
 * bootstrap), and the engine's inspect document is checked with the same hardening policy (assertSafe) that
 * guards every spec the daemon sends.
 *
 * What this proves depends on the test engine's `sysbox-runc` (test/README.md), which the describe's name gives. On
 * real sysbox (the default) the CVM is a real one: root inside is an unprivileged host uid (a user namespace, checked
 * here), /proc and /sys are sysbox-fs's, and devices are the host's nodes bind-mounted. On the test-only shim over runc
 * (machines without sysbox) it proves only what the container configuration gives: no engine socket or daemon file
 * mounted in, a PID namespace of its own, the API shut without the token, exactly the hardened container; root
 * inside is then the host's root, held in by runc's capabilities, seccomp and device cgroup, and the user-namespace
 * test is skipped, saying so. GPUs in a CVM are in gpu-cvm.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { assertSafe } from '../../src/container/hardening.js';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { type Daemon, startDaemon } from '../../src/daemon/run.js';
import type { ContainerCreateSpec } from '../../src/engine/types.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { docker, engineRequest, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { detectCvmRuntime, IDENTITY_UID_MAP, userNamespaceOf } from '../support/cvm-runtime.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { inspectRaw, sleep } from '../support/manager.js';

const RUN = randomBytes(3).toString('hex');
const runtime = await detectCvmRuntime();
const CODER = '1000:1000';
/** How long one request from inside a workspace may take; a local bridge answers in milliseconds. */
const PROBE_SECONDS = 10;

/** Sysbox shows a passed device as nobody:nogroup, so a CVM may have it only when others have rw on the node. */
function deviceState(device: string): { usableByCvm: boolean; mode: string } {
  try {
    const st = statSync(device);
    return { usableByCvm: st.isCharacterDevice() && (st.mode & 0o006) === 0o006, mode: (st.mode & 0o777).toString(8).padStart(4, '0') };
  } catch {
    return { usableByCvm: false, mode: 'missing' };
  }
}
const fuse = deviceState('/dev/fuse');
const tun = deviceState('/dev/net/tun');

interface RawContainer {
  HostConfig: Record<string, unknown> & {
    Privileged: boolean;
    Runtime: string;
    Memory: number;
    NanoCpus: number;
    Devices: { PathOnHost: string; PathInContainer: string }[] | null;
    Mounts: { Type: string; Source: string; Target: string; ReadOnly?: boolean }[] | null;
  };
  Config: { Hostname: string; Env: string[] };
}

describe(`the security boundary, from the engine and from inside a CVM (CVM runtime: ${runtime.description})`, () => {
  let dir: string;
  let token: string;
  let tokenFile: string;
  let stateDir: string;
  let shared: string;
  let daemon: Daemon;
  let api: string;
  const ids: string[] = [];

  async function put(id: string, spec: WorkspaceSpec): Promise<void> {
    const res = await fetch(`${api}/v1/workspaces/${id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    ids.push(id);
  }

  async function waitRunning(id: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const res = await fetch(`${api}/v1/workspaces/${id}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { phase: string; message: string | null };
      if (body.phase === 'running') return;
      if (body.phase === 'failed') throw new Error(`${id} failed: ${body.message ?? ''}`);
      await sleep(100);
    }
    throw new Error(`${id} is not running after 60 s`);
  }

  /** Runs a script inside the workspace; it reports with `echo`, so a refused command is a finding, not an error. */
  function inside(id: string, user: string, script: string): Promise<string> {
    return docker(['exec', '-u', user, `cvm-${id}`, 'sh', '-c', script]);
  }

  /**
   * GET `url` with busybox wget from inside the workspace: its output (the body, or wget's error) and exit code. Each
   * request has its own bound, so one that hangs fails here within seconds, naming what did not answer.
   */
  async function getFromInside(id: string, user: string, url: string): Promise<{ output: string; exit: number }> {
    const out = await inside(id, user, `timeout ${String(PROBE_SECONDS)} wget -q -O - ${url} 2>&1; code=$?; echo; echo "exit $code"`);
    const exit = Number(/exit (\d+)$/.exec(out)?.[1]);
    // busybox timeout kills wget with SIGTERM: 128 + 15.
    if (exit === 143) throw new Error(`no answer from ${url} within ${String(PROBE_SECONDS)} s, from inside cvm-${id} as ${user}`);
    return { output: out.replace(/\n*exit \d+$/, ''), exit };
  }

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: ['sysbox-runc', 'runc'] });
    dir = await mkdtemp(path.join(tmpdir(), `cvm-isolation-${RUN}-`));
    token = `tok-${randomBytes(24).toString('base64url')}`;
    tokenFile = path.join(dir, 'token');
    stateDir = path.join(dir, 'state');
    shared = path.join(dir, 'shared');
    await mkdir(shared);
    await writeFile(path.join(shared, 'hello'), 'from the host\n');
    await writeFile(tokenFile, `${token}\n`);
    const bridge = JSON.parse((await engineRequest('GET', '/networks/bridge')).body) as { IPAM: { Config: { Gateway?: string }[] } };
    const gateway = bridge.IPAM.Config[0]?.Gateway;
    if (gateway === undefined) throw new Error('the test engine bridge has no gateway');
    const config = loadConfig(
      ['--listen', `${gateway}:0`, '--token-file', tokenFile, '--state-dir', stateDir, '--docker-host', testDockerHost(),
        '--allowed-mount-root', shared, '--shutdown-policy', 'keep'],
      {},
    );
    daemon = await startDaemon(config, pino({ level: 'silent' }));
    expect(await daemon.started).toBe(true);
    api = `http://${gateway}:${String((daemon.app.server.address() as AddressInfo).port)}`;
  });
  afterAll(async () => {
    for (const step of daemon.shutdownSteps) await step(Date.now() + 10_000);
    for (const id of ids) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    await rm(dir, { recursive: true, force: true });
  });

  function everyOption(id: string, cvm: boolean, devices: { fuse: boolean; tun: boolean }): WorkspaceSpec {
    return {
      image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm, username: 'coder', hostname: `h-${RUN}`, env: { FOO: 'bar=baz' },
      resources: { cpus: 0.5, memoryBytes: 256 * 1024 * 1024 }, home: { volume: `cvm-${id}-home` }, dockerData: { volume: `cvm-${id}-docker` },
      mounts: [{ source: shared, target: '/shared', readOnly: true }], devices, bootstrap: { script: '#!/bin/sh\necho booted > /tmp/booted\n' },
    };
  }

  async function expectHardened(id: string, expectedDevices: string[]): Promise<RawContainer> {
    const raw = (await inspectRaw(`cvm-${id}`)) as unknown as RawContainer;
    // The same policy function that guards every spec the daemon sends, applied to what the engine actually made.
    expect(() => { assertSafe({ HostConfig: raw.HostConfig } as unknown as ContainerCreateSpec, {
      engineHostRoot: '/', protectedHostPaths: [stateDir, tokenFile, path.dirname(new URL(testDockerHost()).pathname)], allowedMountRoots: [shared],
    }); }).not.toThrow();
    expect(raw.HostConfig.Privileged).toBe(false);
    expect(raw.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(raw.HostConfig.NanoCpus).toBe(500_000_000);
    expect((raw.HostConfig.Devices ?? []).map((d) => `${d.PathOnHost}:${d.PathInContainer}`).sort()).toEqual(expectedDevices.sort());
    const binds = (raw.HostConfig.Mounts ?? []).filter((m) => m.Type === 'bind');
    expect(binds).toEqual([{ Type: 'bind', Source: shared, Target: '/shared', ReadOnly: true }]);
    expect(raw.Config.Hostname).toBe(`h-${RUN}`);
    return raw;
  }

  const cvmDevices = { fuse: fuse.usableByCvm, tun: tun.usableByCvm };
  /** Why a CVM cannot have the device here: sysbox shows the host's node as nobody:nogroup inside. */
  const unusable = (device: string, mode: string): string =>
    `host ${device} is ${mode}; sysbox shows it as nobody:nogroup inside, so a CVM can use it only when others have rw (0666)`;
  const skipped = [
    ...(fuse.usableByCvm ? [] : [`FUSE (host /dev/fuse is ${fuse.mode}, a CVM needs 0666)`]),
    ...(tun.usableByCvm ? [] : [`TUN (host /dev/net/tun is ${tun.mode}, a CVM needs 0666)`]),
  ];

  it(`a CVM with every option${skipped.length ? `, without ${skipped.join(' and ')}` : ''}: the engine made the hardened container`, async () => {
    const id = `iso-${RUN}-cvm`;
    await put(id, everyOption(id, true, cvmDevices));
    await waitRunning(id);
    const raw = await expectHardened(id, [...(cvmDevices.fuse ? ['/dev/fuse:/dev/fuse'] : []), ...(cvmDevices.tun ? ['/dev/net/tun:/dev/net/tun'] : [])]);
    expect(raw.HostConfig.Runtime).toBe('sysbox-runc');
  });

  for (const [device, state] of [['/dev/fuse', fuse], ['/dev/net/tun', tun]] as const) {
    const reason = state.usableByCvm ? '' : ` (skipped: ${unusable(device, state.mode)})`;
    // The every-option CVM above leaves out what the host cannot give it; this says so as a skip.
    it.skipIf(!state.usableByCvm)(`the CVM with every option has ${device} mapped at the same path${reason}`, async () => {
      const raw = (await inspectRaw(`cvm-iso-${RUN}-cvm`)) as unknown as RawContainer;
      expect((raw.HostConfig.Devices ?? []).map((d) => `${d.PathOnHost}:${d.PathInContainer}`)).toContain(`${device}:${device}`);
    });
    it.skipIf(!state.usableByCvm)(`the CVM's workspace user opens ${device} for reading and writing${reason}`, async () => {
      expect(await inside(`iso-${RUN}-cvm`, CODER, `test -c ${device} && exec 3<>${device} && echo opened`)).toBe('opened');
    });

    it.skipIf(state.usableByCvm)(`refuses ${device} for a CVM at PUT while the host node lacks rw for others (here ${state.mode})`, async () => {
      const id = `iso-${RUN}-refused`;
      const res = await fetch(`${api}/v1/workspaces/${id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ image: BUSYBOX_IMAGE, pullPolicy: 'never', devices: { fuse: device === '/dev/fuse', tun: device === '/dev/net/tun' } }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status).toBe(400);
      expect(body.error.code).toBe('InvalidSpec');
      expect(body.error.message).toContain(`chmod 0666 ${device}`);
    });
  }

  it.skipIf(!runtime.real)(
    `root inside the CVM is an unprivileged uid on the host (a user namespace)${runtime.real ? '' : ` (skipped: sysbox-runc here is ${runtime.description}, which has none)`}`,
    async () => {
      const { uidMap, pid1HostUid } = await userNamespaceOf(`cvm-iso-${RUN}-cvm`);
      expect(uidMap).not.toEqual(IDENTITY_UID_MAP);
      expect(uidMap[0]?.[0]).toBe(0);
      expect(pid1HostUid).toBeGreaterThan(0);
      expect(pid1HostUid).toBe(uidMap[0]?.[1]);
    },
  );

  it('a standard workspace with FUSE and TUN (runc makes its own nodes, so the host mode does not matter)', async () => {
    const id = `iso-${RUN}-std`;
    await put(id, everyOption(id, false, { fuse: true, tun: true }));
    await waitRunning(id);
    const raw = await expectHardened(id, ['/dev/fuse:/dev/fuse', '/dev/net/tun:/dev/net/tun']);
    expect(raw.HostConfig.Runtime).toBe('runc');
    const seen = await inside(id, CODER, 'test -c /dev/fuse && echo fuse; test -c /dev/net/tun && echo tun; cat /shared/hello; touch /shared/x 2>/dev/null || echo ro');
    expect(seen.split('\n')).toEqual(['fuse', 'tun', 'from the host', 'ro']);
  });

  describe.each([
    ['the workspace user', CODER],
    ['root inside', '0:0'],
  ])('from inside a running CVM, as %s', (_who, user) => {
    const id = (): string => `iso-${RUN}-cvm`;

    it('sees no engine socket and no socket of the host at all', async () => {
      const engineSocket = new URL(testDockerHost()).pathname;
      const out = await inside(id(), user, `for p in /var/run/docker.sock /run/docker.sock ${engineSocket} /run/containerd/containerd.sock; do test -e "$p" && echo "present $p"; done; find / -xdev -type s 2>/dev/null; echo done`);
      expect(out).toBe('done');
    });

    it('gets 401 from the daemon API without the token, over the network it can reach', async () => {
      // /healthz answers, so the port is reachable from here: only the token keeps /v1 shut.
      expect(await getFromInside(id(), user, `${api}/healthz`)).toEqual({ output: '{"status":"ok"}', exit: 0 });
      const v1 = await getFromInside(id(), user, `${api}/v1/workspaces`);
      expect(v1.output).toMatch(/401 Unauthorized/);
      expect(v1.exit).toBe(1);
      expect(v1.output).not.toContain('"workspaces"');
    });

    it("sees none of the daemon's processes (its own PID namespace)", async () => {
      const out = await inside(id(), user, 'for c in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$c"; echo; done 2>/dev/null');
      const commands = out.split('\n').filter((l) => l.trim() !== '');
      expect(commands.length).toBeGreaterThan(0);
      for (const command of commands) expect(command).not.toMatch(/node|vitest|dockerd|containerd|cvm-supervisor/);
      expect(await inside(id(), user, `test -e /proc/${String(process.pid)}/cmdline && tr "\\0" " " < /proc/${String(process.pid)}/cmdline; echo .`)).not.toMatch(/node/);
    });

    it("cannot read the token file, nor find the token in its environment or its files", async () => {
      const out = await inside(id(), user, `cat ${tokenFile} 2>/dev/null || echo unreadable; ls ${stateDir} 2>/dev/null || echo no-state; env | grep -c ${token} ; grep -rl ${token} / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; echo done`);
      expect(out.split('\n')).toEqual(['unreadable', 'no-state', '0', 'done']);
    });
  });
});
