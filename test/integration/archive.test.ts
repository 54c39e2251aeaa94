/**
 * The archive API (src/engine/archive.ts through DockerEngine) on an unstarted container of the busybox test
 * image, and the engine behaviour image/resolve.ts relies on: HEAD lstats the last element and reports a
 * symlink's target already resolved; a loop is a 500.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/engine/docker.js';
import { EngineError } from '../../src/engine/engine-errors.js';
import { isDir, isSymlink, permissionBits } from '../../src/image/filemode.js';
import { engineRequest, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { BUSYBOX_IMAGE, INIT_LOOP_IMAGE } from '../support/images.js';

const engine = new DockerEngine({ dockerHost: testDockerHost() });
const runLabel = `cvm-test.archive-run=${randomUUID()}`;
const [labelKey = '', labelValue = ''] = runLabel.split('=');

async function createUnstarted(image: string): Promise<string> {
  return engine.createContainer({ name: `cvm-test-archive-${randomUUID().slice(0, 8)}`, Image: image, Labels: { [labelKey]: labelValue }, HostConfig: {} });
}

/** uid and gid of the first entry of the engine's tar for `path` (ustar header fields, octal at 108 and 116). */
async function ownerInTar(containerId: string, path: string): Promise<{ uid: number; gid: number }> {
  const response = await engineRequest('GET', `/containers/${containerId}/archive?path=${encodeURIComponent(path)}`);
  expect(response.status).toBe(200);
  return { uid: parseInt(response.body.slice(108, 116), 8), gid: parseInt(response.body.slice(116, 124), 8) };
}

describe('archive API on an unstarted container', () => {
  let busybox = '';
  let loop = '';

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE, INIT_LOOP_IMAGE] });
    busybox = await createUnstarted(BUSYBOX_IMAGE);
    loop = await createUnstarted(INIT_LOOP_IMAGE);
  });

  afterAll(async () => {
    await removeLabelled(runLabel);
  });

  it('stats a symlink without following it, with its target resolved by the engine', async () => {
    // On disk the link is ../usr/lib/os-release; the engine reports it resolved within the container.
    const stat = await engine.statPath(busybox, '/etc/os-release');
    expect(stat?.name).toBe('os-release');
    expect(isSymlink(stat?.mode ?? 0)).toBe(true);
    expect(stat?.linkTarget).toBe('/usr/lib/os-release');
  });

  it('stats a directory and a regular file', async () => {
    const dir = await engine.statPath(busybox, '/usr/lib');
    expect(isDir(dir?.mode ?? 0)).toBe(true);
    const file = await engine.statPath(busybox, '/bin/busybox');
    expect(file).toMatchObject({ name: 'busybox', linkTarget: '' });
    expect(permissionBits(file?.mode ?? 0)).toBe(0o755);
    expect(file?.size).toBeGreaterThan(100_000);
  });

  it('answers undefined for a missing path, and throws for a missing container', async () => {
    expect(await engine.statPath(busybox, '/no/such/file')).toBeUndefined();
    const error: unknown = await engine.statPath('cvm-test-no-such-container', '/').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).statusCode).toBe(404);
  });

  it('throws EngineError 500 for a symlink loop', async () => {
    const error: unknown = await engine.statPath(loop, '/sbin/init').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).statusCode).toBe(500);
  });

  it('reads one regular file, and nothing for links, directories, missing paths or files over the cap', async () => {
    const text = (await engine.readFile(busybox, '/usr/lib/os-release', 4096))?.toString('utf8');
    expect(text).toMatch(/^ID=busybox$/m);
    expect(await engine.readFile(busybox, '/etc/os-release', 4096)).toBeUndefined();
    expect(await engine.readFile(busybox, '/usr/lib', 4096)).toBeUndefined();
    expect(await engine.readFile(busybox, '/no/such/file', 4096)).toBeUndefined();
    const size = (await engine.statPath(busybox, '/bin/busybox'))?.size ?? 0;
    expect(await engine.readFile(busybox, '/bin/busybox', size - 1)).toBeUndefined();
    expect((await engine.readFile(busybox, '/bin/busybox', size))?.length).toBe(size);
  });

  it('puts files with mode and owner into an unstarted container', async () => {
    await engine.putFiles(busybox, '/home/coder', [
      { path: 'bootstrap.sh', content: '#!/bin/sh\necho hi\n', mode: 0o750, uid: 1000, gid: 1000 },
      { path: 'notes.txt', content: Buffer.from('plain'), mode: 0o600 },
    ]);
    const script = await engine.statPath(busybox, '/home/coder/bootstrap.sh');
    expect(permissionBits(script?.mode ?? 0)).toBe(0o750);
    expect((await engine.readFile(busybox, '/home/coder/bootstrap.sh', 1024))?.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(await ownerInTar(busybox, '/home/coder/bootstrap.sh')).toEqual({ uid: 1000, gid: 1000 });
    expect(await ownerInTar(busybox, '/home/coder/notes.txt')).toEqual({ uid: 0, gid: 0 });
    expect((await engine.readFile(busybox, '/home/coder/notes.txt', 1024))?.toString()).toBe('plain');
  });

  it('refuses to put files into a missing directory', async () => {
    const error: unknown = await engine.putFiles(busybox, '/no/such/dir', [{ path: 'x', content: 'x', mode: 0o644 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).statusCode).toBe(404);
  });
});
