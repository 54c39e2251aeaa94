/**
 * The hostile-input corpus (test/support/hostile-corpus.ts) against the running daemon: startDaemon as `serve`
 * builds it, a token file, a --config file, listening on 127.0.0.1:0, the test engine. Every request must get a
 * 4xx with its stable code, none a 5xx, and none may create a container or a volume: both are counted on the
 * engine before and after. Each request is a test row of its own (named by its index, category, request and
 * expected code), so that one failure hides none of the others; the figures per category are printed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { allowedRootRefusal } from '../../src/container/protected-paths.js';
import { type Daemon, startDaemon } from '../../src/daemon/run.js';
import { docker, engineRequest, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { buildCorpus, type HostileCase } from '../support/hostile-corpus.js';
import { BUSYBOX_IMAGE } from '../support/images.js';

const RUN = randomBytes(3).toString('hex');
const PREFIX = `hostile-${RUN}`;

/**
 * What the corpus is built from must exist when the file is collected (one row per case): the temporary paths,
 * the token and the engine's data root. The files and links themselves are made in beforeAll.
 */
const dir = mkdtempSync(path.join(tmpdir(), `cvm-${PREFIX}-`));
const stateDir = path.join(dir, 'state');
const token = `tok-${randomBytes(24).toString('base64url')}`;
const tokenFile = path.join(dir, 'token');
const configFile = path.join(dir, 'config.json');
const allowedRoot = path.join(dir, 'shared');
const engineSocket = new URL(testDockerHost()).pathname;
/** Read here for the corpus; without an engine, beforeAll's requireTestEngine says what is missing. */
const engineRoot = await engineRequest('GET', '/info').then(
  (res) => (JSON.parse(res.body) as { DockerRootDir: string }).DockerRootDir,
  () => '/var/lib/docker',
);
const links: Record<string, string> = {
  sock: engineSocket, root: '/', etc: '/etc', 'proc-root': '/proc/self/root', up: '../../../../../..', state: stateDir, token: tokenFile,
  config: configFile, usr: '/usr', dangling: '/nonexistent/x', loop: 'loop', chain: 'up', 'var-lib-docker': '/var/lib/docker', 'dev-mem': '/dev/mem',
  'sys-cgroup': '/sys/fs/cgroup', 'proc-1-root': '/proc/1/root', kubelet: '/var/lib/kubelet', containerd: '/run/containerd',
  sysbox: '/var/lib/sysbox', boot: '/boot', 'engine-root': engineRoot, 'engine-volumes': path.join(engineRoot, 'volumes'),
};
// The bind volume carries the label of the workspace its cases PUT, so that only its options refuse it.
const foreignVolumes = [{ volume: `${PREFIX}-bind`, id: `${PREFIX}-bindowner` }, { volume: `${PREFIX}-nolabel` }, { volume: `${PREFIX}-other-home` }];
const corpus = buildCorpus({
  image: BUSYBOX_IMAGE, token, allowedRoot, escapeLinks: Object.keys(links), daemonFiles: [tokenFile, stateDir, configFile, engineSocket], foreignVolumes, engineRoot,
});

/** A row's name: its index (also its workspace id's suffix), category, request (cut short) and expected code. */
function rowName(c: HostileCase, index: number): string {
  const request = c.kind === 'raw' ? JSON.stringify(c.text.slice(0, 60)) : `${c.method} ${c.path} ${JSON.stringify((c.body ?? '').slice(0, 60))}`;
  return `#${String(index)} ${c.category}: ${request} → ${c.expect}`;
}

interface Outcome {
  status: number;
  code: string;
}

/** What a case got: the API's error.code, or HTTP<status> when the body is not the API's error shape. */
function codeOf(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    if (typeof parsed.error?.code === 'string') return parsed.error.code;
  } catch {
    // Not JSON: Node's own answer to malformed HTTP.
  }
  return `HTTP${String(status)}`;
}

function send(port: number, c: HostileCase, id: string): Promise<Outcome> {
  if (c.kind === 'raw') {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ...(c.from !== undefined && { localAddress: c.from }) });
      const chunks: Buffer[] = [];
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        // Several requests on one connection get several answers: the last one decides.
        const text = Buffer.concat(chunks).toString('latin1').split(/(?=HTTP\/1\.[01] \d{3} )/).at(-1) ?? '';
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
        resolve({ status, code: codeOf(status, text.slice(text.indexOf('\r\n\r\n') + 4)) });
      });
      socket.end(Buffer.from(c.text.replaceAll('{id}', id), 'latin1'));
    });
  }
  return new Promise((resolve, reject) => {
    const body = c.body === undefined ? undefined : Buffer.from(c.body, 'utf8');
    const headers = { ...c.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
    const target = { host: '127.0.0.1', port, method: c.method, path: c.path.replaceAll('{id}', id), headers, timeout: 30_000 };
    const req = request({ ...target, ...(c.from !== undefined && { localAddress: c.from }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, code: codeOf(status, Buffer.concat(chunks).toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    // A server that refuses a huge body may answer and close before it was all sent.
    req.on('error', reject);
    req.end(body);
  });
}

/** The workspace labels of this run's containers and volumes on the engine (others share it, so only ours). */
async function ourLabels(): Promise<{ containers: string[]; volumes: string[] }> {
  const filters = encodeURIComponent(JSON.stringify({ label: [WORKSPACE_LABEL] }));
  const containers = JSON.parse((await engineRequest('GET', `/containers/json?all=true&filters=${filters}`)).body) as { Labels: Record<string, string> | null }[];
  const volumes = (JSON.parse((await engineRequest('GET', `/volumes?filters=${filters}`)).body) as { Volumes: { Labels: Record<string, string> | null }[] | null }).Volumes ?? [];
  const ours = (items: { Labels: Record<string, string> | null }[]): string[] =>
    items.map((i) => i.Labels?.[WORKSPACE_LABEL] ?? '').filter((id) => id.startsWith(`${PREFIX}-`));
  return { containers: ours(containers), volumes: ours(volumes) };
}

async function countOnEngine(): Promise<{ containers: number; volumes: number }> {
  const { containers, volumes } = await ourLabels();
  return { containers: containers.length, volumes: volumes.length };
}

async function ourWorkspaceIds(): Promise<Set<string>> {
  const { containers, volumes } = await ourLabels();
  return new Set([...containers, ...volumes]);
}

describe('the hostile-input corpus against the running daemon', () => {
  let daemon: Daemon;
  let port: number;
  let before: { containers: number; volumes: number };
  const outcomes: { c: HostileCase; outcome: Outcome }[] = [];

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    await writeFile(tokenFile, `${token}\n`);
    await writeFile(configFile, JSON.stringify({ shutdownPolicy: 'keep' }));
    await mkdir(allowedRoot);
    for (const [name, target] of Object.entries(links)) await symlink(target, path.join(allowedRoot, name));
    // The engine's data root under an allowed root, when its parent holds nothing serve refuses (the test engine's does not).
    const engineParent = path.dirname(engineRoot);
    const extraRoots = allowedRootRefusal(engineParent, [stateDir, tokenFile, configFile, path.dirname(engineSocket)]) === null ? ['--allowed-mount-root', engineParent] : [];
    console.log(`hostile-input corpus: the engine's data root ${engineRoot} is ${extraRoots.length > 0 ? `under the allowed root ${engineParent}` : 'under no allowed root (its parent holds a protected path)'}`);
    await docker(['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${path.dirname(engineSocket)}`, '--label', `${WORKSPACE_LABEL}=${PREFIX}-bindowner`, `${PREFIX}-bind`]);
    await docker(['volume', 'create', `${PREFIX}-nolabel`]);
    await docker(['volume', 'create', '--label', `${WORKSPACE_LABEL}=${PREFIX}-other`, `${PREFIX}-other-home`]);
    const config = loadConfig(
      ['--listen', '127.0.0.1:0', '--token-file', tokenFile, '--config', configFile, '--state-dir', stateDir, '--docker-host', testDockerHost(),
        // serve refuses an allowed root that holds a protected path (the daemon's own files in tmpdir() included).
        '--allowed-mount-root', allowedRoot, ...extraRoots],
      {},
    );
    daemon = await startDaemon(config, pino({ level: 'silent' }));
    expect(await daemon.started).toBe(true);
    port = (daemon.app.server.address() as AddressInfo).port;
    before = await countOnEngine();
  });
  afterAll(async () => {
    for (const step of daemon.shutdownSteps) await step(Date.now() + 10_000);
    // Only if a case slipped through: remove what it made, by its own id (the engine is shared).
    for (const id of await ourWorkspaceIds()) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    for (const { volume } of foreignVolumes) await docker(['volume', 'rm', '-f', volume]);
    await rm(dir, { recursive: true, force: true });
  });

  it('has at least 1000 requests', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(1000);
  });

  // Concurrent rows (vitest's maxConcurrency, 5 at a time); the tests after them wait for all of them.
  it.concurrent.each(corpus.map((c, index) => ({ c, index, name: rowName(c, index) })))('$name', async ({ c, index }) => {
    const outcome = await send(port, c, `${PREFIX}-${String(index)}`).catch((err: unknown) => ({ status: 0, code: `error: ${String(err)}` }));
    outcomes.push({ c, outcome });
    expect(outcome.code).toBe(c.expect);
    expect(outcome.status).toBeGreaterThanOrEqual(400);
    expect(outcome.status).toBeLessThan(500);
  });

  it('every request was answered, none with a 5xx (figures per category printed)', async () => {
    await daemon.manager.idle();
    const byCategory = new Map<string, { tried: number; fourxx: number }>();
    for (const { c, outcome } of outcomes) {
      const row = byCategory.get(c.category) ?? { tried: 0, fourxx: 0 };
      row.tried++;
      if (outcome.status >= 400 && outcome.status < 500) row.fourxx++;
      byCategory.set(c.category, row);
    }
    const figures = {
      requestsTried: outcomes.length,
      '4xx': outcomes.filter(({ outcome }) => outcome.status >= 400 && outcome.status < 500).length,
      '5xx': outcomes.filter(({ outcome }) => outcome.status >= 500).length,
    };
    console.log(`hostile-input corpus: ${JSON.stringify(figures)}`);
    for (const [category, row] of byCategory) console.log(`  ${category}: ${String(row.tried)} tried, ${String(row.fourxx)} 4xx`);
    expect(figures.requestsTried).toBe(corpus.length);
    expect(figures['5xx']).toBe(0);
  });

  it("created no container: this run's workspace containers on the engine are as many as before", async () => {
    await daemon.manager.idle();
    expect((await countOnEngine()).containers - before.containers).toBe(0);
  });

  it("created no volume: this run's workspace volumes on the engine are as many as before", async () => {
    await daemon.manager.idle();
    expect((await countOnEngine()).volumes - before.volumes).toBe(0);
  });

  it('stored no workspace: no record in the state dir, none in the manager', async () => {
    expect(await readdir(path.join(stateDir, 'workspaces'))).toEqual([]);
    expect(daemon.manager.list()).toEqual([]);
  });
});
