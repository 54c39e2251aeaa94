/**
 * Pulls against a real authenticated registry: Debian's docker-registry with htpasswd on 127.0.0.1 (see
 * test/support/registry.ts), through the manager with its real collaborators and the test engine. Every image is
 * pushed here with a fresh random layer, so no pull finds it cached. Standard workspaces (`cvm: false`): the
 * pull path is the same for CVMs and they need no runtime stand-in.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/lifecycle/event-log.js';
import type { WorkspaceSpec } from '../../src/spec/workspace-spec.js';
import { docker, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { containersOfWorkspace, ManagerHarness, sleep } from '../support/manager.js';
import { REGISTRY_USER, TestRegistry } from '../support/registry.js';
import { SlowProxy } from '../support/slow-proxy.js';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const dockerConfig = (auths: Record<string, unknown>): string => JSON.stringify({ auths });

describe('image pulls from an authenticated registry', () => {
  let registry: TestRegistry;
  let h: ManagerHarness;
  let work: string;
  const logLines: string[] = [];
  const pushed: string[] = [];

  /** Builds busybox plus a random layer, pushes it as `cvm/<repository>:<tag>` and drops it locally. */
  async function pushUnique(repository: string, tag = '1', layerBytes = 1024 * 1024): Promise<string> {
    const context = await mkdtemp(path.join(work, 'build-'));
    await writeFile(path.join(context, 'blob'), randomBytes(layerBytes));
    await writeFile(path.join(context, 'Dockerfile'), `FROM ${BUSYBOX_IMAGE}\nCOPY blob /blob\n`);
    const local = `cvm-test/registry-${repository}:${tag}`;
    await docker(['build', '-q', '-t', local, context], 120_000);
    const ref = await registry.push(local, `cvm/${repository}`, tag);
    await docker(['rmi', local]);
    pushed.push(ref);
    return ref;
  }

  const events = (id: string): LogEvent[] => h.manager.workspace(id)?.log.snapshot() ?? [];
  const attempts = (id: string): number => events(id).filter((e) => e.kind === 'pull' && /^attempt /.test(e.message)).length;
  const spec = (image: string, extra: Partial<WorkspaceSpec> = {}): WorkspaceSpec => ({ image, cvm: false, ...extra });
  const withAuth = (auths: Record<string, unknown>): Partial<WorkspaceSpec> => ({ pullAuth: { dockerConfigJson: dockerConfig(auths) } });

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    work = await mkdtemp(path.join(tmpdir(), 'cvm-registry-test-'));
    registry = await TestRegistry.create(PASSWORD);
    // The node's pull secret as a mounted file: the username/password form.
    const secretFile = path.join(work, 'dockerconfigjson');
    await writeFile(secretFile, dockerConfig({ [`http://${registry.host}`]: { username: REGISTRY_USER, password: PASSWORD } }));
    const logStream = new PassThrough();
    logStream.on('data', (chunk: Buffer) => logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    h = await ManagerHarness.create('registry', { flags: ['--pull-secret-file', secretFile], logStream, logLevel: 'debug' });
  }, 300_000);

  afterAll(async () => {
    await h.cleanup();
    await registry.destroy();
    for (const ref of pushed) await docker(['rmi', '-f', ref]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  it('pulls with `auth` from the spec, records the registry digest, and reports progress up to 100%', async () => {
    const ref = await pushUnique('auth-form', '1', 32 * 1024 * 1024);
    const id = h.id('auth-form');
    await h.manager.put(id, spec(ref, withAuth({ [registry.host]: { auth: b64(`${REGISTRY_USER}:${PASSWORD}`) } })));
    const status = await h.waitFor(id, 'running', 60_000);
    expect(status.image.digest).toBe(await registry.manifestDigest('cvm/auth-form', '1'));
    expect(attempts(id)).toBe(1);
    const progress = events(id).flatMap((e) => (e.data?.['percent'] === undefined ? [] : [e.data as { done: number; total: number; percent: number }]));
    expect(progress.at(-1)?.percent).toBe(100);
    // Sizes are known before the first figure, so the total never moves and the percentage only grows.
    expect(new Set(progress.map((p) => p.total))).toEqual(new Set([progress.at(-1)?.total]));
    expect(progress.at(-1)?.total).toBeGreaterThan(32 * 1024 * 1024);
    progress.forEach((p, i) => {
      expect(p.done).toBeGreaterThanOrEqual(progress[i - 1]?.done ?? 0);
      expect(p.percent).toBeGreaterThanOrEqual(progress[i - 1]?.percent ?? 0);
    });
  });

  it('pulls with username/password from the node pull secret file, by tag and by digest', async () => {
    const ref = await pushUnique('node-secret');
    const digest = await registry.manifestDigest('cvm/node-secret', '1');
    const byTag = h.id('node-tag');
    await h.manager.put(byTag, spec(ref));
    expect((await h.waitFor(byTag, 'running', 60_000)).image.digest).toBe(digest);
    await docker(['rmi', '-f', ref]);
    const byDigest = h.id('node-digest');
    const digestRef = `${registry.host}/cvm/node-secret@${digest}`;
    pushed.push(digestRef); // pulled by digest alone, it has no tag for the cleanup to find
    await h.manager.put(byDigest, spec(digestRef, { pullPolicy: 'always' }));
    const status = await h.waitFor(byDigest, 'running', 60_000);
    expect(status.image.digest).toBe(digest);
    expect(events(byDigest).some((e) => e.message.startsWith(`pulling ${digestRef} with the credentials`))).toBe(true);
  });

  it('pulls with the envbox variable CODER_IMAGE_PULL_SECRET', async () => {
    const ref = await pushUnique('envbox');
    const env = { CODER_IMAGE_PULL_SECRET: dockerConfig({ [`https://${registry.host}/v2/`]: { auth: b64(`${REGISTRY_USER}:${PASSWORD}`) } }) };
    const other = await ManagerHarness.create('registry-env', { env });
    try {
      const id = other.id('envbox');
      await other.manager.put(id, spec(ref));
      expect((await other.waitFor(id, 'running', 60_000)).image.digest).toBe(await registry.manifestDigest('cvm/envbox', '1'));
    } finally {
      await other.cleanup();
    }
  });

  it.each([
    ['a wrong password', 'ImagePullAuthFailed', () => withAuth({ [registry.host]: { username: REGISTRY_USER, password: 'wrong' } })],
    ['credentials for another host only', 'ImagePullAuthFailed', () => withAuth({ '127.0.0.1:1': { auth: b64(`${REGISTRY_USER}:${PASSWORD}`) } })],
  ])('%s fails as %s after one attempt', async (name, reason, auth) => {
    const ref = await pushUnique(`bad-${name.replaceAll(' ', '-')}`);
    // Without the node secret: a harness whose config has none.
    const other = await ManagerHarness.create('registry-bad');
    try {
      const id = other.id('bad');
      await other.manager.put(id, spec(ref, auth()));
      const status = await other.waitFor(id, 'failed', 60_000);
      expect(status.reason).toBe(reason);
      const log = other.manager.workspace(id)?.log.snapshot() ?? [];
      expect(log.filter((e) => /^attempt /.test(e.message))).toHaveLength(1);
    } finally {
      await other.cleanup();
    }
  });

  // docs/security.md: the image cache is the node's, shared by every workspace on it.
  it('a private image in the cache starts for a workspace without credentials under if-not-present; always checks its access', async () => {
    const ref = await pushUnique('shared-cache');
    const other = await ManagerHarness.create('registry-cache');
    try {
      const withCredentials = other.id('with');
      await other.manager.put(withCredentials, spec(ref, withAuth({ [registry.host]: { auth: b64(`${REGISTRY_USER}:${PASSWORD}`) } })));
      await other.waitFor(withCredentials, 'running', 60_000);
      const cached = other.id('cached');
      await other.manager.put(cached, spec(ref));
      expect((await other.waitFor(cached, 'running', 60_000)).image.digest).toBe(await registry.manifestDigest('cvm/shared-cache', '1'));
      const checked = other.id('checked');
      await other.manager.put(checked, spec(ref, { pullPolicy: 'always' }));
      expect((await other.waitFor(checked, 'failed', 60_000)).reason).toBe('ImagePullAuthFailed');
      expect(await containersOfWorkspace(checked)).toEqual([]);
    } finally {
      await other.cleanup();
    }
  });

  it('an unknown tag fails as ImageNotFound after one attempt', async () => {
    const id = h.id('unknown-tag');
    await h.manager.put(id, spec(`${registry.host}/cvm/auth-form:no-such-tag`));
    const status = await h.waitFor(id, 'failed', 60_000);
    expect(status.reason).toBe('ImageNotFound');
    expect(attempts(id)).toBe(1);
  });

  it('ten workspaces asking for the same uncached image cause one pull', async () => {
    const baselineRef = await pushUnique('flight-baseline');
    const baselineId = h.id('flight-base');
    const before = registry.manifestRequests('cvm/flight-baseline');
    await h.manager.put(baselineId, spec(baselineRef));
    await h.waitFor(baselineId, 'running', 60_000);
    const onePull = registry.manifestRequests('cvm/flight-baseline') - before;
    expect(onePull).toBeGreaterThan(0);

    const ref = await pushUnique('flight');
    const start = registry.manifestRequests('cvm/flight');
    const ids = Array.from({ length: 10 }, (_, i) => h.id(`flight-${i}`));
    await Promise.all(ids.map((id) => h.manager.put(id, spec(ref))));
    for (const id of ids) await h.waitFor(id, 'running', 90_000);
    expect(registry.manifestRequests('cvm/flight') - start).toBe(onePull);
  }, 180_000);

  it('deleting a workspace mid-pull aborts the engine pull and its download from the registry', async () => {
    const image = await pushUnique('cancelled', '1', 8 * 1024 * 1024);
    const proxy = await SlowProxy.start(registry.port);
    try {
      const ref = image.replace(registry.host, proxy.host);
      const id = h.id('cancelled');
      await h.manager.put(id, spec(ref, withAuth({ [proxy.host]: { auth: b64(`${REGISTRY_USER}:${PASSWORD}`) } })));
      const deadline = Date.now() + 30_000;
      while (!proxy.transfers.some((t) => t.bytes > 0)) {
        if (Date.now() > deadline) throw new Error('the download did not start within 30 s');
        await sleep(50);
      }
      await h.manager.delete(id, true);
      await h.manager.idle();
      // The engine stops the registry download once the daemon closes the pull's HTTP stream. Left alone, the
      // trickle (640 KB/s) would need 13 s for this layer.
      const cut = Date.now() + 8_000;
      while (proxy.transfers.some((t) => t.state === 'running')) {
        if (Date.now() > cut) throw new Error(`the download went on after the delete: ${JSON.stringify(proxy.transfers)}`);
        await sleep(50);
      }
      expect(proxy.transfers.map((t) => t.state)).toContain('aborted');
      expect(await docker(['images', '-q', ref])).toBe('');
    } finally {
      await proxy.stop();
    }
  });

  it('a stopped registry fails as RegistryUnreachable after every attempt', async () => {
    const ref = await pushUnique('stopped');
    await registry.stop();
    try {
      const id = h.id('stopped');
      await h.manager.put(id, spec(ref));
      const status = await h.waitFor(id, 'failed', 60_000);
      expect(status.reason).toBe('RegistryUnreachable');
      expect(attempts(id)).toBe(4);
      expect(events(id).filter((e) => /retrying in/.test(e.message))).toHaveLength(3);
    } finally {
      await registry.start();
    }
  });

  it('a registry restarted within the backoff window: the pull succeeds', async () => {
    const ref = await pushUnique('restarted');
    await registry.stop();
    const id = h.id('restarted');
    await h.manager.put(id, spec(ref));
    const deadline = Date.now() + 30_000;
    while (!events(id).some((e) => /retrying in/.test(e.message))) {
      if (Date.now() > deadline) throw new Error('no retry within 30 s');
      await sleep(20);
    }
    await registry.start();
    await h.waitFor(id, 'running', 60_000);
    expect(attempts(id)).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['an invalid image reference', { image: '127.0.0.1:5000/Team/dev' }, 'image'],
    ['a pullAuth that is not a .dockerconfigjson', { image: 'busybox', pullAuth: { dockerConfigJson: `{"auths":{"r.io":{"password":"${PASSWORD}"}}}` } }, 'pullAuth.dockerConfigJson'],
  ])('refuses %s as InvalidSpec at PUT, storing nothing', async (_name, bad, field) => {
    const id = h.id('invalid');
    const refusal = h.manager.put(id, { cvm: false, ...bad });
    await expect(refusal).rejects.toMatchObject({ code: 'InvalidSpec', path: field });
    await expect(refusal).rejects.not.toThrow(PASSWORD);
    expect(h.manager.workspace(id)).toBeUndefined();
  });

  it('credentials appear in no log line, build-log event or API answer', () => {
    const secrets = [PASSWORD, b64(`${REGISTRY_USER}:${PASSWORD}`)];
    const workspaces = h.manager.list();
    const answers = [JSON.stringify({ workspaces }), ...workspaces.map((w) => JSON.stringify(events(w.id)))];
    expect(logLines.length).toBeGreaterThan(10);
    for (const text of [...logLines, ...answers]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });
});
