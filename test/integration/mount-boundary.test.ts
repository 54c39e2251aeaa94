/**
 * The mount boundary on the real engine (docs/security.md): named volumes a workspace may use, the engine's data
 * root under an allowed mount root, and a bind source swapped for a symlink between create and restart. Each case
 * asserts the refusal and that no container was made, or started, with the mount.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { InvalidSpecError, WorkspaceNotFoundError } from '../../src/errors.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { docker, engineRequest, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, inspectRaw, ManagerHarness } from '../support/manager.js';

const RUN = randomBytes(3).toString('hex');
const busybox: WorkspaceSpec = { image: BUSYBOX_IMAGE, pullPolicy: 'never', cvm: false };

interface RawMounts {
  Mounts: { Type: string; Name?: string; Source: string; Destination: string }[];
  State: { Running: boolean; StartedAt: string };
}

async function refusalOf(promise: Promise<unknown>): Promise<InvalidSpecError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof InvalidSpecError) return error;
    throw error;
  }
  throw new Error('the request was accepted');
}

/** A volume made by hand, as any engine user could; `labels` may claim a workspace. */
async function volumeByHand(name: string, options: string[], labels: Record<string, string> = {}): Promise<void> {
  await docker(['volume', 'create', ...options.flatMap((o) => ['--opt', o]), ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), name]);
}

/** Every container on the engine (any state, anyone's) that mounts volume `name`. */
async function containersMounting(name: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ volume: [name] }));
  return (JSON.parse((await engineRequest('GET', `/containers/json?all=true&filters=${filters}`)).body) as { Id: string }[]).map((c) => c.Id);
}

describe('named volumes: only those the daemon made for the workspace', () => {
  let h: ManagerHarness;
  let bindTarget: string;
  const handMade: string[] = [];

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    h = await ManagerHarness.create('mbvol');
    bindTarget = await mkdtemp(path.join(tmpdir(), `cvm-mbvol-${RUN}-`));
    await writeFile(path.join(bindTarget, 'secret'), 'the host directory behind a bind volume\n');
  });
  afterAll(async () => {
    await h.cleanup();
    for (const name of handMade) await docker(['volume', 'rm', '-f', name]);
    await rm(bindTarget, { recursive: true, force: true });
  });

  async function expectRefusedAtPut(id: string, spec: WorkspaceSpec, field: string, why: RegExp, volume: string): Promise<void> {
    const mountingBefore = await containersMounting(volume);
    const error = await refusalOf(h.manager.put(id, spec));
    expect(error.path).toBe(field);
    expect(error.message).toMatch(why);
    await h.manager.idle();
    expect(() => h.manager.get(id)).toThrow(WorkspaceNotFoundError);
    expect(await containersOfWorkspace(id)).toEqual([]);
    expect(await containersMounting(volume)).toEqual(mountingBefore);
  }

  it('refuses a local volume made by hand with o=bind,device=..., even labelled as the workspace', async () => {
    const id = h.id('bindopts');
    const name = `cvm-mbvol-${RUN}-bind`;
    handMade.push(name);
    await volumeByHand(name, ['type=none', 'o=bind', `device=${bindTarget}`], { [WORKSPACE_LABEL]: id });
    await expectRefusedAtPut(id, { ...busybox, home: { volume: name } }, 'home.volume', /driver options \(device, o, type\)/, name);
    await expectRefusedAtPut(id, { ...busybox, dockerData: { volume: name } }, 'dockerData.volume', /driver options/, name);
  });

  it('refuses a volume made by hand without the workspace label', async () => {
    const id = h.id('nolabel');
    const name = `cvm-mbvol-${RUN}-nolabel`;
    handMade.push(name);
    await volumeByHand(name, []);
    await expectRefusedAtPut(id, { ...busybox, home: { volume: name } }, 'home.volume', /was not made by this daemon for workspace/, name);
  });

  it("refuses another workspace's home volume, and leaves that workspace alone", async () => {
    const owner = h.id('owner');
    await h.manager.put(owner, busybox);
    await h.waitFor(owner, 'running');
    const home = `cvm-${owner}-home`;
    const thief = h.id('thief');
    await expectRefusedAtPut(thief, { ...busybox, home: { volume: home } }, 'home.volume', new RegExp(`belongs to workspace ${owner}`), home);
    await expectRefusedAtPut(thief, { ...busybox, dockerData: { volume: home } }, 'dockerData.volume', /belongs to workspace/, home);
    expect((await containersMounting(home)).length).toBe(1);
    expect(h.manager.get(owner).phase).toBe('running');
  });

  it('refuses one volume as both home and dockerData', async () => {
    const id = h.id('twice');
    const error = await refusalOf(h.manager.put(id, { ...busybox, home: { volume: `cvm-${id}-v` }, dockerData: { volume: `cvm-${id}-v` } }));
    expect([error.path, error.message]).toEqual(['dockerData.volume', `dockerData.volume: cvm-${id}-v is also home.volume; a workspace's Docker data needs a volume of its own`]);
  });

  it('creates a volume that does not exist yet with the workspace label, and uses it again after a rebuild', async () => {
    const id = h.id('fresh');
    const name = `cvm-${id}-data`;
    await h.manager.put(id, { ...busybox, dockerData: { volume: name } });
    await h.waitFor(id, 'running');
    const volume = JSON.parse((await engineRequest('GET', `/volumes/${name}`)).body) as { Labels: Record<string, string>; Driver: string; Options: unknown };
    expect(volume).toMatchObject({ Labels: { [WORKSPACE_LABEL]: id }, Driver: 'local' });
    await h.manager.rebuild(id, { pull: false });
    await h.waitFor(id, 'running');
    expect(await containersMounting(name)).toEqual([(await inspectRaw(`cvm-${id}`)).Id]);
  });

  it('checks again before create: a volume made with bind options after the PUT is refused at the rebuild', async () => {
    const id = h.id('late');
    await h.manager.put(id, busybox);
    await h.waitFor(id, 'running');
    await h.manager.stop(id);
    await h.waitFor(id, 'stopped');
    const before = await inspectRaw(`cvm-${id}`);
    const name = `cvm-${id}-late`;
    // Accepted: the volume does not exist yet, and the daemon would make it.
    await h.manager.put(id, { ...busybox, home: { volume: name } });
    await volumeByHand(name, ['type=none', 'o=bind', `device=${bindTarget}`], { [WORKSPACE_LABEL]: id });
    await h.manager.rebuild(id, { pull: false });
    const status = await h.waitFor(id, 'failed');
    expect([status.reason, status.message]).toEqual(['InvalidSpec', expect.stringMatching(/^home\.volume: .*driver options/)]);
    expect(await containersMounting(name)).toEqual([]);
    // The container from before the rebuild is still the one there, and still stopped.
    const after = (await inspectRaw(`cvm-${id}`)) as unknown as RawMounts & { Id: string };
    expect(after.Id).toBe(before.Id);
    expect(after.State.Running).toBe(false);
  });
});

describe("the engine's data root under an allowed mount root", () => {
  let h: ManagerHarness;
  let dockerRootDir: string;

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dockerRootDir = (JSON.parse((await engineRequest('GET', '/info')).body) as { DockerRootDir: string }).DockerRootDir;
    // The manager itself: serve would refuse this root at start when it holds a statically protected path.
    h = await ManagerHarness.create('mbroot', { flags: ['--allowed-mount-root', path.dirname(dockerRootDir)] });
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it.each([
    ['volumes', (root: string) => path.join(root, 'volumes'), 'lies in'],
    ['root', (root: string) => root, 'lies in'],
    ['parent', (root: string) => path.dirname(root), 'contains'],
  ])('refuses %s', async (name, source, relation) => {
    const id = h.id(name);
    const error = await refusalOf(h.manager.put(id, { ...busybox, mounts: [{ source: source(dockerRootDir), target: '/mnt/x' }] }));
    expect(error.path).toBe('mounts[0].source');
    expect(error.message).toContain(`not allowed: it ${relation} ${dockerRootDir}`);
    expect(await containersOfWorkspace(id)).toEqual([]);
  });
});

describe('a bind source swapped for a symlink between create and restart', () => {
  let h: ManagerHarness;
  let dir: string;
  let shared: string;
  let outside: string;

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dir = await realpath(await mkdtemp(path.join(tmpdir(), `cvm-mbswap-${RUN}-`)));
    shared = path.join(dir, 'shared');
    outside = path.join(dir, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret'), 'outside every allowed root\n');
    await mkdir(path.join(outside, 'data'));
    h = await ManagerHarness.create('mbswap', { flags: ['--allowed-mount-root', shared] });
  });
  afterAll(async () => {
    await h.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['the source itself', 'a/data', 'a/data'],
    ['a parent of the source', 'b/data', 'b'],
  ])('%s: the start is refused and the container stays stopped with its mount as checked', async (name, source, swapped) => {
    const id = h.id(name === 'the source itself' ? 'self' : 'parent');
    const sourcePath = path.join(shared, source);
    await mkdir(sourcePath, { recursive: true });
    await h.manager.put(id, { ...busybox, mounts: [{ source: sourcePath, target: '/data' }] });
    await h.waitFor(id, 'running');
    await h.manager.stop(id);
    await h.waitFor(id, 'stopped');
    const before = (await inspectRaw(`cvm-${id}`)) as unknown as RawMounts;
    expect(before.Mounts.filter((m) => m.Type === 'bind').map((m) => m.Source)).toEqual([sourcePath]);

    // What a workspace that can write the parent of another mount's source could do.
    await rename(path.join(shared, swapped), path.join(dir, `${id}-moved`));
    await mkdir(path.dirname(path.join(shared, swapped)), { recursive: true });
    await symlink(outside, path.join(shared, swapped));
    await h.manager.start(id);
    const status = await h.waitFor(id, 'failed');
    expect(status.reason).toBe('InvalidSpec');
    expect(status.message).toContain(`mount /data: ${sourcePath} now resolves to ${swapped === source ? outside : path.join(outside, 'data')}`);
    const after = (await inspectRaw(`cvm-${id}`)) as unknown as RawMounts;
    expect(after.State.Running).toBe(false);
    expect(after.State.StartedAt).toBe(before.State.StartedAt);
    // The engine lists mounts in no fixed order.
    const byTarget = (m: RawMounts['Mounts']): RawMounts['Mounts'] => [...m].sort((a, b) => a.Destination.localeCompare(b.Destination));
    expect(byTarget(after.Mounts)).toEqual(byTarget(before.Mounts));
  });
});
