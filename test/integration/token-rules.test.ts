/**
 * The real `cvm-supervisor serve` refuses a token that is no secret: the one deploy/kubernetes/token-secret.yaml
 * ships (read from the YAML as it is), the old shipped placeholder, short ones, an empty or missing file. Each
 * exits 2 before listening, with one line on stderr that names --token-file and never quotes the token.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DaemonProcess } from '../support/daemon-process.js';
import { requireTestEngine, testDockerHost } from '../support/engine.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const SECRET_YAML = fileURLToPath(new URL('../../deploy/kubernetes/token-secret.yaml', import.meta.url));
const run = promisify(execFile);

interface SecretManifest {
  stringData?: Record<string, string>;
  data?: Record<string, string>;
}

/** What Kubernetes would put in the mounted `token` file: the value as shipped, or no file at all. */
async function shippedToken(): Promise<string | undefined> {
  const secret = parse(await readFile(SECRET_YAML, 'utf8')) as SecretManifest;
  const encoded = secret.data?.['token'];
  return secret.stringData?.['token'] ?? (encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8'));
}

describe('serve refuses a token that is no secret', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cvm-token-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs serve with `content` as the token file (no file when undefined); the daemon must exit on its own. */
  async function serveWith(content: string | undefined, name: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const tokenFile = path.join(dir, `${name}.token`);
    if (content !== undefined) await writeFile(tokenFile, content);
    const args = [MAIN, 'serve', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--state-dir', path.join(dir, `${name}-state`), '--docker-host', testDockerHost()];
    try {
      const { stdout, stderr } = await run(process.execPath, args, { env: { PATH: process.env['PATH'] ?? '' }, timeout: 15_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  function expectRefused(result: { code: number; stdout: string; stderr: string }, token: string | undefined, why: RegExp): void {
    expect(result.code).toBe(2);
    // Nothing logged, so nothing served: the refusal comes before the listener.
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cvm-supervisor: --token-file: /);
    expect(lines[0]).toMatch(why);
    // (A token of a few characters could occur in any message by chance; the longer ones say whether it is quoted.)
    if (token !== undefined && token.trim().length >= 8) expect(result.stderr.toLowerCase()).not.toContain(token.trim().toLowerCase());
  }

  it('deploy/kubernetes/token-secret.yaml as shipped: the daemon will not serve /v1 with it', async () => {
    const token = await shippedToken();
    // No value ships, so Kubernetes mounts no file; were one to ship again, it would be refused as well.
    expect(token).toBeUndefined();
    expectRefused(await serveWith(token, 'shipped'), token, /the file is missing/);
  });

  it.each([
    ['the placeholder that used to ship', 'REPLACE-WITH-A-LONG-RANDOM-TOKEN\n', /known placeholder/],
    ['a known placeholder', 'changeme\n', /known placeholder/],
    ['one character', 'x\n', /shorter than 32 bytes/],
    ['31 bytes', `${'0123456789abcdef'.repeat(2).slice(0, 31)}\n`, /shorter than 32 bytes/],
    ['an empty file', '\n', /the file is empty/],
  ])('%s: exit 2, one line, the token never quoted', async (name, content, why) => {
    expectRefused(await serveWith(content, name.replaceAll(' ', '-')), content, why);
  });

  it('a token of 32 random bytes or more is served, and the placeholder is still refused as a bearer token', async () => {
    await requireTestEngine();
    const token = 'b'.repeat(2) + '0123456789abcdef'.repeat(4);
    const tokenFile = path.join(dir, 'good.token');
    await writeFile(tokenFile, `${token}\n`);
    const daemon = new DaemonProcess(['--token-file', tokenFile, '--state-dir', path.join(dir, 'good-state')], {});
    try {
      const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 30_000, 'listening');
      const base = String(listening.msg).replace('Server listening at ', '');
      await daemon.waitForLine((l) => l.msg === 'adopted existing state', 30_000, 'started');
      expect((await fetch(`${base}/v1/workspaces`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${base}/v1/workspaces`, { headers: { authorization: 'Bearer REPLACE-WITH-A-LONG-RANDOM-TOKEN' } })).status).toBe(401);
    } finally {
      daemon.kill('SIGTERM');
      await daemon.exited;
    }
  });
});
