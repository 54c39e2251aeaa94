/**
 * A real image registry for tests: Debian's `docker-registry` (distribution v2) with htpasswd auth on
 * 127.0.0.1:<random port>, its own config and storage dir. Docker treats 127.0.0.1 registries as insecure-allowed,
 * so plain HTTP works. Its access log (one line per HTTP request) lets tests count what the engine asked for.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { testDockerHost } from './engine.js';

const execFileAsync = promisify(execFile);

export const REGISTRY_USER = 'cvm-tester';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export class TestRegistry {
  private process: ChildProcess | null = null;
  /** Everything the registry wrote since start (its access log is in here). */
  output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly password: string,
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async create(password: string): Promise<TestRegistry> {
    const dir = await mkdtemp(path.join(tmpdir(), 'cvm-registry-'));
    const registry = new TestRegistry(dir, await freePort(), password);
    const { stdout } = await execFileAsync('htpasswd', ['-Bbn', REGISTRY_USER, password]);
    await writeFile(path.join(dir, 'htpasswd'), stdout);
    await writeFile(
      path.join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log: { level: info, formatter: text }',
        `storage: { filesystem: { rootdirectory: ${dir}/data }, delete: { enabled: true } }`,
        `http: { addr: "127.0.0.1:${registry.port}", secret: test-only-secret }`,
        `auth: { htpasswd: { realm: cvm-test, path: ${dir}/htpasswd } }`,
        '',
      ].join('\n'),
    );
    await registry.start();
    return registry;
  }

  /** Starts (again) on the same port and storage; resolves once /v2/ answers. */
  async start(): Promise<void> {
    const child = spawn('docker-registry', ['serve', path.join(this.dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    const collect = (chunk: Buffer): void => {
      this.output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const deadline = Date.now() + 15_000;
    while ((await this.status('/v2/')) !== 401) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer within 15 s:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.process = null;
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** HTTP status of a GET, or 0 when nothing answers. */
  status(urlPath: string, headers: Record<string, string> = {}): Promise<number> {
    return this.head(urlPath, headers, 'GET').then((r) => r.status);
  }

  /** The registry's own digest for a tag (Docker-Content-Digest of the manifest). */
  async manifestDigest(repository: string, tag: string): Promise<string> {
    const response = await this.head(`/v2/${repository}/manifests/${tag}`, {
      Accept: 'application/vnd.docker.distribution.manifest.v2+json',
      Authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${this.password}`).toString('base64')}`,
    });
    const digest = response.headers['docker-content-digest'];
    if (response.status !== 200 || typeof digest !== 'string') throw new Error(`manifest ${repository}:${tag}: ${response.status}`);
    return digest;
  }

  /** Requests for `/v2/<repository>/manifests/...` in the access log, e.g. to count pulls. */
  manifestRequests(repository: string): number {
    return this.output.split('\n').filter((line) => line.includes(`/v2/${repository}/manifests/`) && /"(GET|HEAD) /.test(line)).length;
  }

  private head(urlPath: string, headers: Record<string, string>, method = 'HEAD'): Promise<{ status: number; headers: Record<string, unknown> }> {
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: this.port, path: urlPath, method, headers, timeout: 5_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
      });
      req.on('error', () => {
        resolve({ status: 0, headers: {} });
      });
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  /**
   * Pushes a local image of the test engine as `<host>/<repository>:<tag>` with the docker CLI, logged in with a
   * throw-away client config; returns the pushed reference.
   */
  async push(localImage: string, repository: string, tag: string): Promise<string> {
    const target = `${this.host}/${repository}:${tag}`;
    const env = { ...process.env, DOCKER_HOST: testDockerHost(), DOCKER_CONFIG: path.join(this.dir, 'client') };
    const run = (args: string[], input?: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const child = execFile('docker', args, { env, timeout: 120_000 }, (err, _stdout, stderr) => {
          if (err) reject(new Error(`docker ${args.join(' ')}: ${stderr}`));
          else resolve();
        });
        if (input !== undefined) child.stdin?.end(input);
      });
    await run(['login', this.host, '-u', REGISTRY_USER, '--password-stdin'], this.password);
    await run(['tag', localImage, target]);
    await run(['push', target]);
    await run(['rmi', target]);
    return target;
  }
}
