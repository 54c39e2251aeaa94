/**
 * The hostile-input corpus (test/support/hostile-corpus.ts) against the running daemon: startDaemon as `serve`
 * builds it, a token file, a --config file, listening on 127.0.0.1:0, the test engine. Every request must get a
 * 4xx with its stable code, none a 5xx, and none may create a container or a volume: both are counted on the
 * engine before and after. The figures are printed (and recorded in the README).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
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
const CONCURRENCY = 8;

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
  let dir: string;
  let stateDir: string;
  let daemon: Daemon;
  let port: number;
  let corpus: HostileCase[];
  let engineRoot: string;
  let foreignVolumes: { volume: string; id?: string }[] = [];

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dir = await mkdtemp(path.join(tmpdir(), `cvm-${PREFIX}-`));
    stateDir = path.join(dir, 'state');
    const token = `tok-${randomBytes(24).toString('base64url')}`;
    const tokenFile = path.join(dir, 'token');
    const configFile = path.join(dir, 'config.json');
    const allowedRoot = path.join(dir, 'shared');
    await writeFile(tokenFile, `${token}\n`);
    await writeFile(configFile, JSON.stringify({ shutdownPolicy: 'keep' }));
    await mkdir(allowedRoot);
    const engineSocket = new URL(testDockerHost()).pathname;
    engineRoot = (JSON.parse((await engineRequest('GET', '/info')).body) as { DockerRootDir: string }).DockerRootDir;
    const links: Record<string, string> = {
      sock: engineSocket, root: '/', etc: '/etc', 'proc-root': '/proc/self/root', up: '../../../../../..', state: stateDir, token: tokenFile,
      config: configFile, usr: '/usr', dangling: '/nonexistent/x', loop: 'loop', chain: 'up', 'var-lib-docker': '/var/lib/docker', 'dev-mem': '/dev/mem',
      'sys-cgroup': '/sys/fs/cgroup', 'proc-1-root': '/proc/1/root', kubelet: '/var/lib/kubelet', containerd: '/run/containerd',
      sysbox: '/var/lib/sysbox', boot: '/boot', 'engine-root': engineRoot, 'engine-volumes': path.join(engineRoot, 'volumes'),
    };
    for (const [name, target] of Object.entries(links)) await symlink(target, path.join(allowedRoot, name));
    // The engine's data root under an allowed root, when its parent holds nothing serve refuses (the test engine's does not).
    const engineParent = path.dirname(engineRoot);
    const extraRoots = allowedRootRefusal(engineParent, [stateDir, tokenFile, configFile, path.dirname(engineSocket)]) === null ? ['--allowed-mount-root', engineParent] : [];
    console.log(`hostile-input corpus: the engine's data root ${engineRoot} is ${extraRoots.length > 0 ? `under the allowed root ${engineParent}` : 'under no allowed root (its parent holds a protected path)'}`);
    // The bind volume carries the label of the workspace its cases PUT, so that only its options refuse it.
    foreignVolumes = [{ volume: `${PREFIX}-bind`, id: `${PREFIX}-bindowner` }, { volume: `${PREFIX}-nolabel` }, { volume: `${PREFIX}-other-home` }];
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
    corpus = buildCorpus({
      image: BUSYBOX_IMAGE, token, allowedRoot, escapeLinks: Object.keys(links), daemonFiles: [tokenFile, stateDir, configFile, engineSocket], foreignVolumes, engineRoot,
    });
  });
  afterAll(async () => {
    for (const step of daemon.shutdownSteps) await step(Date.now() + 10_000);
    // Only if a case slipped through: remove what it made, by its own id (the engine is shared).
    for (const id of await ourWorkspaceIds()) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    for (const { volume } of foreignVolumes) await docker(['volume', 'rm', '-f', volume]);
    await rm(dir, { recursive: true, force: true });
  });

  it('gets a 4xx with its stable code for every request, no 5xx, and creates nothing', async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(1000);
    const before = await countOnEngine();
    const outcomes: { c: HostileCase; outcome: Outcome | { status: 0; code: string } }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < corpus.length) {
          const index = next++;
          const c = corpus[index];
          if (!c) break;
          const outcome = await send(port, c, `${PREFIX}-${String(index)}`).catch((err: unknown) => ({ status: 0 as const, code: `error: ${String(err)}` }));
          outcomes.push({ c, outcome });
        }
      }),
    );
    await daemon.manager.idle();
    const after = await countOnEngine();

    const byCategory = new Map<string, { tried: number; fourxx: number }>();
    for (const { c, outcome } of outcomes) {
      const row = byCategory.get(c.category) ?? { tried: 0, fourxx: 0 };
      row.tried++;
      if (outcome.status >= 400 && outcome.status < 500) row.fourxx++;
      byCategory.set(c.category, row);
    }
    const fourxx = outcomes.filter(({ outcome }) => outcome.status >= 400 && outcome.status < 500).length;
    const fivexx = outcomes.filter(({ outcome }) => outcome.status >= 500).length;
    const figures = {
      requestsTried: outcomes.length, '4xx': fourxx, '5xx': fivexx,
      containersCreated: after.containers - before.containers, volumesCreated: after.volumes - before.volumes,
    };
    console.log(`hostile-input corpus: ${JSON.stringify(figures)}`);
    for (const [category, row] of byCategory) console.log(`  ${category}: ${String(row.tried)} tried, ${String(row.fourxx)} 4xx`);

    const wrong = outcomes
      .filter(({ c, outcome }) => outcome.code !== c.expect || outcome.status < 400 || outcome.status >= 500)
      .map(({ c, outcome }) => `${c.category} ${c.kind === 'raw' ? JSON.stringify(c.text.slice(0, 80)) : `${c.method} ${c.path} ${JSON.stringify((c.body ?? '').slice(0, 120))}`}: got ${String(outcome.status)} ${outcome.code}, expected ${c.expect}`);
    expect(wrong).toEqual([]);
    expect(figures).toEqual({ requestsTried: corpus.length, '4xx': corpus.length, '5xx': 0, containersCreated: 0, volumesCreated: 0 });
    expect(await readdir(path.join(stateDir, 'workspaces'))).toEqual([]);
    expect(daemon.manager.list()).toEqual([]);
  });
});
