/**
 * What the manager hands the engine is never more than an unprivileged container, checked on the engine's own
 * inspect document for a varied set of workspaces; and requests the node must refuse leave nothing behind.
 *
 * The test engine's `sysbox-runc` is real sysbox, or the test-only shim over runc on machines without it
 * (test/README.md). The checks here are on the container configuration the engine records, which neither changes.
 */
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_HASH_LABEL, WORKSPACE_LABEL } from '../../src/container/labels.js';
import { InvalidSpecError, SpecRefusal, WorkspaceNotFoundError } from '../../src/errors.js';
import { specHash } from '../../src/spec/spec-hash.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { CVM_RUNTIME, requireTestEngine, testDockerHost } from '../support/engine.js';
import { BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, inspectRaw, ManagerHarness, volumesOfWorkspace } from '../support/manager.js';

interface RawContainer {
  Config: { User: string; Labels: Record<string, string> };
  HostConfig: {
    Privileged: boolean;
    Runtime: string;
    NetworkMode: string;
    PidMode: string;
    IpcMode: string;
    UTSMode: string;
    UsernsMode: string;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Binds: string[] | null;
    Devices: { PathOnHost: string; PathInContainer: string }[] | null;
  };
  Mounts: { Type: string; Source: string; Destination: string }[];
}

const TUN = '/dev/net/tun';

/** Sysbox shows a passed device as nobody:nogroup, so a CVM may have TUN only when others have rw on the node. */
function tunState(): { exists: boolean; usableByCvm: boolean; mode: string } {
  try {
    const st = statSync(TUN);
    return { exists: st.isCharacterDevice(), usableByCvm: st.isCharacterDevice() && (st.mode & 0o006) === 0o006, mode: (st.mode & 0o777).toString(8) };
  } catch {
    return { exists: false, usableByCvm: false, mode: 'missing' };
  }
}
const tun = tunState();

function isUnder(p: string, root: string): boolean {
  return p === root || p.startsWith(`${root}/`);
}

/** Every rule the spec builder promises, read back from what the engine actually made. */
function expectUnprivileged(c: RawContainer, id: string, spec: WorkspaceSpec, allowedBindSources: readonly string[]): void {
  const hc = c.HostConfig;
  expect(hc.Privileged).toBe(false);
  for (const mode of [hc.NetworkMode, hc.PidMode, hc.IpcMode, hc.UTSMode, hc.UsernsMode]) {
    expect(mode).not.toBe('host');
    expect(mode).not.toMatch(/^container:/);
  }
  expect(hc.CapAdd ?? []).toEqual([]);
  expect(hc.SecurityOpt ?? []).toEqual([]);
  expect(hc.Binds ?? []).toEqual([]);
  expect(c.Config.User).toBe('0:0');
  expect(hc.Runtime).toBe(spec.cvm === false ? 'runc' : CVM_RUNTIME);
  for (const mount of c.Mounts) {
    for (const p of [mount.Source, mount.Destination]) {
      expect(p, `mount ${mount.Source} → ${mount.Destination}`).not.toMatch(/\.sock$/);
      expect(isUnder(p, '/run') || isUnder(p, '/var/run'), `mount ${mount.Source} → ${mount.Destination}`).toBe(false);
    }
    if (mount.Type === 'bind') expect(allowedBindSources).toContain(mount.Source);
    else expect(mount.Type).toBe('volume');
  }
  const devices = (hc.Devices ?? []).map((d) => `${d.PathOnHost}:${d.PathInContainer}`);
  expect(devices).toEqual(spec.devices?.tun === true ? [`${TUN}:${TUN}`] : []);
  expect(c.Config.Labels[WORKSPACE_LABEL]).toBe(id);
  expect(c.Config.Labels[SPEC_HASH_LABEL]).toBe(specHash(spec));
}

describe('containers the manager creates are unprivileged', () => {
  let h: ManagerHarness;
  let mountDir: string;
  const made: { name: string; id: string; spec: WorkspaceSpec }[] = [];

  beforeAll(async () => {
    await requireTestEngine({ images: [BOOKWORM_SYSTEMD_IMAGE, BUSYBOX_IMAGE], runtimes: [CVM_RUNTIME, 'runc'] });
    mountDir = await mkdtemp(path.join(tmpdir(), 'cvm-secvar-mount-'));
    h = await ManagerHarness.create('secvar', { flags: ['--allowed-mount-root', mountDir] });
    const busybox: WorkspaceSpec = { image: BUSYBOX_IMAGE, pullPolicy: 'never' };
    const variants: [string, WorkspaceSpec][] = [
      ['systemd', { image: BOOKWORM_SYSTEMD_IMAGE, username: 'coder', pullPolicy: 'never' }],
      ['keepalive', busybox],
      ['standard', { ...busybox, cvm: false }],
      ['dockerdata', { ...busybox, dockerData: { volume: `cvm-${h.prefix}-dockerdata-docker` } }],
      ['usermount', { ...busybox, mounts: [{ source: mountDir, target: '/shared', readOnly: true }] }],
      // runc makes its own node for a standard workspace, so the host node's mode does not matter there.
      ...(tun.exists ? [['standard-tun', { ...busybox, cvm: false, devices: { tun: true } }] as [string, WorkspaceSpec]] : []),
      ...(tun.usableByCvm ? [['cvm-tun', { ...busybox, devices: { tun: true } }] as [string, WorkspaceSpec]] : []),
    ];
    for (const [name, spec] of variants) {
      const id = h.id(name);
      await h.manager.put(id, spec);
      made.push({ name, id, spec });
    }
    await Promise.all(made.map(({ id }) => h.waitFor(id, 'running', 60_000)));
  });
  afterAll(async () => {
    await h.cleanup();
    await rm(mountDir, { recursive: true, force: true });
  });

  it.each(['systemd', 'keepalive', 'standard', 'dockerdata', 'usermount'])(
    '%s: not privileged, no host namespaces, no engine socket, its runtime, User 0:0, labels per API.md',
    async (name) => {
      const variant = made.find((v) => v.name === name);
      if (!variant) throw new Error(`variant ${name} was not created`);
      const container = (await inspectRaw(`cvm-${variant.id}`)) as unknown as RawContainer;
      expectUnprivileged(container, variant.id, variant.spec, name === 'usermount' ? [mountDir] : []);
    },
  );

  it.skipIf(!tun.exists)(`standard-tun: a standard workspace with ${TUN}${tun.exists ? '' : ` (skipped: the host has no ${TUN})`}`, async () => {
    const variant = made.find((v) => v.name === 'standard-tun');
    if (!variant) throw new Error('variant standard-tun was not created');
    expectUnprivileged((await inspectRaw(`cvm-${variant.id}`)) as unknown as RawContainer, variant.id, variant.spec, []);
  });

  it.skipIf(!tun.usableByCvm)(`cvm-tun: a CVM with ${TUN} (skipped: the host's node is mode ${tun.mode}, a CVM needs 0666)`, async () => {
    const variant = made.find((v) => v.name === 'cvm-tun');
    if (!variant) throw new Error('variant cvm-tun was not created');
    expectUnprivileged((await inspectRaw(`cvm-${variant.id}`)) as unknown as RawContainer, variant.id, variant.spec, []);
  });

  it('the user mount is exactly the allowed directory, read-only', async () => {
    const variant = made.find((v) => v.name === 'usermount');
    if (!variant) throw new Error('variant usermount was not created');
    const raw = (await inspectRaw(`cvm-${variant.id}`)) as unknown as { Mounts: { Type: string; Source: string; Destination: string; RW: boolean }[] };
    expect(raw.Mounts.filter((m) => m.Type === 'bind')).toEqual([expect.objectContaining({ Source: mountDir, Destination: '/shared', RW: false })]);
  });
});

/** Asserts the refusal left nothing: no record in the store, no workspace, no container, no volume. */
async function expectNothingLeft(h: ManagerHarness, id: string): Promise<void> {
  expect(() => h.manager.get(id)).toThrow(WorkspaceNotFoundError);
  expect(await readdir(path.join(h.stateDir, 'workspaces'))).toEqual([]);
  expect(await containersOfWorkspace(id)).toEqual([]);
  expect(await volumesOfWorkspace(id)).toEqual([]);
}

async function refusalOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('the request was accepted');
}

describe('the node refuses CVMs it cannot or may not run, and still runs standard workspaces', () => {
  const harnesses: ManagerHarness[] = [];
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE], runtimes: ['runc'] });
  });
  afterAll(async () => {
    for (const h of harnesses) await h.cleanup();
  });

  it.each([
    { prefix: 'secrtm', flags: ['--runtime', 'sysbox-runc-missing'], code: 'RuntimeMissing' },
    { prefix: 'seccvmoff', flags: ['--cvm-enabled', 'false'], code: 'CvmDisabled' },
  ])('$flags: a CVM is refused with $code; cvm: false runs on runc', async ({ prefix, flags, code }) => {
    const h = await ManagerHarness.create(prefix, { flags });
    harnesses.push(h);
    const refused = h.id('cvm');
    // cvm defaults to true.
    for (const spec of [{ image: BUSYBOX_IMAGE, pullPolicy: 'never' }, { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm: true }] as WorkspaceSpec[]) {
      const error = await refusalOf(h.manager.put(refused, spec));
      expect(error).toBeInstanceOf(SpecRefusal);
      expect((error as SpecRefusal).code).toBe(code);
    }
    await expectNothingLeft(h, refused);

    const standard = h.id('standard');
    await h.manager.put(standard, { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm: false });
    const status = await h.waitFor(standard, 'running');
    expect(status.runtime).toBe('runc');
    expect(((await inspectRaw(`cvm-${standard}`)) as unknown as RawContainer).HostConfig.Runtime).toBe('runc');
  });
});

describe('engine sockets are refused as mount sources whatever the allowed roots', () => {
  const harnesses: ManagerHarness[] = [];
  let fakeHost: string;
  beforeAll(async () => {
    await requireTestEngine();
    // A host root with a docker.sock where a node has it, and an innocent-looking link to it under an allowed root.
    fakeHost = await mkdtemp(path.join(tmpdir(), 'cvm-secsock-host-'));
    await mkdir(path.join(fakeHost, 'var/run'), { recursive: true });
    await writeFile(path.join(fakeHost, 'var/run/docker.sock'), '');
    await mkdir(path.join(fakeHost, 'srv/shared'), { recursive: true });
    await symlink('../../var/run/docker.sock', path.join(fakeHost, 'srv/shared/innocent'));
  });
  afterAll(async () => {
    for (const h of harnesses) await h.cleanup();
    await rm(fakeHost, { recursive: true, force: true });
  });

  async function expectMountRefused(h: ManagerHarness, name: string, source: string, why: RegExp): Promise<void> {
    const id = h.id(name);
    for (const cvm of [true, false]) {
      const spec: WorkspaceSpec = { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm, mounts: [{ source, target: '/mnt/x' }] };
      const error = await refusalOf(h.manager.put(id, spec));
      expect(error).toBeInstanceOf(InvalidSpecError);
      expect((error as InvalidSpecError).path).toBe('mounts[0].source');
      expect((error as Error).message).toMatch(why);
    }
    await expectNothingLeft(h, id);
  }

  it('under a host root that has /var/run/docker.sock, with /var/run and /srv allowed', async () => {
    const h = await ManagerHarness.create('secsock', { flags: ['--host-root', fakeHost, '--allowed-mount-root', '/var/run', '--allowed-mount-root', '/srv'] });
    harnesses.push(h);
    await expectMountRefused(h, 'direct', '/var/run/docker.sock', /engine socket|lies in \/var\/run/);
    await expectMountRefused(h, 'link', '/srv/shared/innocent', /resolves to \/var\/run\/docker\.sock.*not allowed/);
  });

  it.skipIf(!testDockerHost().startsWith('unix://'))(
    'on the real host with / allowed: the test engine socket, its directory, /var/run/docker.sock (needs a unix DOCKER_HOST)',
    async () => {
      const h = await ManagerHarness.create('secroot', { flags: ['--allowed-mount-root', '/'] });
      harnesses.push(h);
      const engineSocket = new URL(h.config.dockerHost).pathname;
      await expectMountRefused(h, 'socket', engineSocket, /not allowed: (it is an engine socket|it lies in \/run)/);
      await expectMountRefused(h, 'socketdir', path.dirname(engineSocket), /not allowed: it lies in \/run/);
      // Refused whether or not this host has the file (a missing source is refused by name too).
      await expectMountRefused(h, 'varrun', '/var/run/docker.sock', /\/var\/run\/docker\.sock/);
    },
  );
});

describe('the manager keeps its own files out of reach', () => {
  let h: ManagerHarness;
  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    h = await ManagerHarness.create('secstate', { flags: ['--allowed-mount-root', tmpdir()] });
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it('refuses to mount its state dir, or a directory that contains it, even under an allowed root', async () => {
    for (const [name, source, why] of [
      ['statedir', h.stateDir, /not allowed: it lies in/],
      ['stateparent', tmpdir(), /not allowed: it contains/],
    ] as const) {
      const id = h.id(name);
      const error = await refusalOf(h.manager.put(id, { image: BUSYBOX_IMAGE, pullPolicy: 'never', mounts: [{ source, target: '/mnt/x' }] }));
      expect(error).toBeInstanceOf(InvalidSpecError);
      expect((error as Error).message).toMatch(why);
      await expectNothingLeft(h, id);
    }
  });

  // StateStore joins the id into a path: a '../x' id must never reach it.
  it('refuses an id that is not a DNS label before storing anything', async () => {
    const outcome = await h.manager.put('../secstate-escape', { image: BUSYBOX_IMAGE, pullPolicy: 'never' }).then(
      () => 'accepted',
      (error: unknown) => error,
    );
    await h.manager.idle();
    expect(await readdir(h.stateDir)).toEqual(['workspaces']);
    expect(outcome).toBeInstanceOf(InvalidSpecError);
  });
});
