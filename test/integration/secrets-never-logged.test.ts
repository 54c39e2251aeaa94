/**
 * Secrets never reach the daemon's log. The real `cvm-supervisor serve` (dist/) runs at --log-level trace with
 * secret values planted everywhere they can come in: env values copied by CODER_INNER_ENVS (a secret-looking name
 * and a plain one: values are never logged, whatever the name), CODER_AGENT_TOKEN, CODER_IMAGE_PULL_SECRET,
 * --pull-secret-file, CODER_BOOTSTRAP_SCRIPT, the bearer token, and through /v1 a spec's env, pullAuth and
 * bootstrap script. The run
 * goes through start, the boot workspace, PUTs that succeed and fail (a bad env value, a pull that cannot reach its
 * registry, a bootstrap that exits 3), refused tokens, and a SIGTERM shutdown; then every line it wrote, stdout and
 * stderr, is searched for every planted value.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient } from '../support/api-client.js';
import { DaemonProcess } from '../support/daemon-process.js';
import { removeLabelled, requireTestEngine } from '../support/engine.js';
import { BUSYBOX_IMAGE } from '../support/images.js';

const RUN = randomBytes(3).toString('hex');
const WORKSPACE_LABEL = 'dev.cvm-supervisor.workspace';
const BOOT_ID = `secrets-${RUN}-boot`;
const IDS = {
  ok: `secrets-${RUN}-ok`, pull: `secrets-${RUN}-pull`, pullFile: `secrets-${RUN}-pull-file`, script: `secrets-${RUN}-script`, bad: `secrets-${RUN}-bad`,
};

/** A value that occurs nowhere else, so that finding it anywhere means it leaked. */
const planted = (what: string): string => `${what}-${randomBytes(12).toString('hex')}`;
const SECRETS = {
  databaseUrlPassword: planted('dbpass'),
  plainEnvValue: planted('plainvalue'),
  agentToken: planted('agenttoken'),
  nodePullPassword: planted('nodepull'),
  pullSecretFilePassword: planted('pullfile'),
  bootScript: planted('bootscript'),
  apiToken: planted('apitoken-0123456789'),
  specEnvSecret: planted('specenvsecret'),
  specEnvPlain: planted('specenvplain'),
  specPullPassword: planted('specpull'),
  specScript: planted('specscript'),
  badEnvValue: planted('badenv'),
  wrongToken: planted('wrongtoken-0123456789'),
};
const base64 = (text: string): string => Buffer.from(text).toString('base64');
const dockerConfig = (registry: string, password: string): string => JSON.stringify({ auths: { [registry]: { auth: base64(`robot:${password}`) } } });

describe('secrets never reach the log (a real daemon run at trace level)', () => {
  let dir: string;
  let daemon: DaemonProcess;
  let base = '';
  let api: ApiCall;

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dir = await mkdtemp(path.join(tmpdir(), `cvm-secrets-${RUN}-`));
    await writeFile(path.join(dir, 'token'), `${SECRETS.apiToken}\n`);
    await writeFile(path.join(dir, 'pull-secret.json'), dockerConfig('registry.invalid:5002', SECRETS.pullSecretFilePassword));
    const flags = ['--state-dir', path.join(dir, 'state'), '--token-file', path.join(dir, 'token'), '--pull-secret-file', path.join(dir, 'pull-secret.json')];
    daemon = new DaemonProcess([...flags, '--log-level', 'trace', '--shutdown-policy', 'stop'], {
      CVM_BOOT_WORKSPACE_ID: BOOT_ID,
      CODER_INNER_IMAGE: BUSYBOX_IMAGE,
      CODER_INNER_USERNAME: 'coder',
      CODER_INNER_ENVS: 'DATABASE_URL,PLAIN_SETTING',
      DATABASE_URL: `postgres://app:${SECRETS.databaseUrlPassword}@db.internal/app`,
      PLAIN_SETTING: SECRETS.plainEnvValue,
      CODER_AGENT_TOKEN: SECRETS.agentToken,
      CODER_IMAGE_PULL_SECRET: dockerConfig('registry.invalid:5000', SECRETS.nodePullPassword),
      CODER_BOOTSTRAP_SCRIPT: `#!/bin/sh\n# ${SECRETS.bootScript}\necho booted\n`,
    });
    const listening = await daemon.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'), 30_000, 'listening');
    base = String(listening.msg).replace('Server listening at ', '');
    api = apiClient(() => base, SECRETS.apiToken);
  });
  afterAll(async () => {
    daemon.kill('SIGKILL');
    for (const id of [BOOT_ID, ...Object.values(IDS)]) await removeLabelled(`${WORKSPACE_LABEL}=${id}`);
    await rm(dir, { recursive: true, force: true });
  });

  /** Waits until the workspace's build log has an entry matching `pattern`. */
  async function untilBuildLog(id: string, pattern: RegExp): Promise<void> {
    await expect
      .poll(async () => (await fetch(`${base}/v1/workspaces/${id}/events`, { headers: { authorization: `Bearer ${SECRETS.apiToken}` } })).text(), {
        timeout: 90_000,
        interval: 200,
      })
      .toMatch(pattern);
  }

  it('goes through start, PUTs that work and fail, refused tokens and shutdown', async () => {
    await daemon.waitForPhase(BOOT_ID, 'running');

    const ok = await api('PUT', `/v1/workspaces/${IDS.ok}`, {
      image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never',
      env: { API_KEY: SECRETS.specEnvSecret, PLAIN: SECRETS.specEnvPlain },
      pullAuth: { dockerConfigJson: dockerConfig('registry.invalid:5001', SECRETS.specPullPassword) },
      bootstrap: { script: `#!/bin/sh\n# ${SECRETS.specScript}\necho fine\n` },
    });
    expect(ok.status).toBe(201);
    const script = await api('PUT', `/v1/workspaces/${IDS.script}`, {
      image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never', env: { TOKEN_FOR_SCRIPT: SECRETS.specEnvSecret },
      bootstrap: { script: `#!/bin/sh\nSECRET='${SECRETS.specScript}'\nexit 3\n` },
    });
    expect(script.status).toBe(201);
    // The node's pull secret matches this registry; the pull cannot reach it and fails.
    const pull = await api('PUT', `/v1/workspaces/${IDS.pull}`, { image: 'registry.invalid:5000/team/dev:1', cvm: false, pullPolicy: 'always' });
    expect(pull.status).toBe(201);
    // And this one the --pull-secret-file's.
    const pullFile = await api('PUT', `/v1/workspaces/${IDS.pullFile}`, { image: 'registry.invalid:5002/team/dev:1', cvm: false, pullPolicy: 'always' });
    expect(pullFile.status).toBe(201);
    const bad = await api('PUT', `/v1/workspaces/${IDS.bad}`, { image: BUSYBOX_IMAGE, cvm: false, env: { FOO: `${SECRETS.badEnvValue}\nX=1` } });
    expect(bad.status).toBe(400);
    for (const authorization of [`Bearer ${SECRETS.wrongToken}`, SECRETS.wrongToken, `Basic ${base64(`u:${SECRETS.wrongToken}`)}`]) {
      expect((await fetch(`${base}/v1/workspaces`, { headers: { authorization } })).status).toBe(401);
    }
    expect((await fetch(`${base}/readyz`, { headers: { authorization: `Bearer ${SECRETS.apiToken}` } })).status).toBeLessThan(600);

    await daemon.waitForPhase(IDS.ok, 'running');
    await daemon.waitForPhase(IDS.pull, 'failed');
    await daemon.waitForPhase(IDS.pullFile, 'failed');
    await untilBuildLog(IDS.ok, /bootstrap exited with code 0/);
    await untilBuildLog(IDS.script, /bootstrap exited with code 3/);
    daemon.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);

    const lines = [...daemon.lines.map((l) => JSON.stringify(l)), ...daemon.stderr];
    expect(lines.length).toBeGreaterThan(20);
    const leaks = Object.entries(SECRETS).flatMap(([name, value]) =>
      [value, base64(`robot:${value}`)].flatMap((needle) => lines.filter((line) => line.includes(needle)).map((line) => `${name}: ${line.slice(0, 300)}`)),
    );
    expect(leaks).toEqual([]);
    // The names are there, so that an operator can still see what was passed.
    const serving = daemon.lines.find((l) => l.msg === 'serving');
    expect(JSON.stringify(serving)).toContain('DATABASE_URL');
    expect(JSON.stringify(serving)).toContain('PLAIN_SETTING');
  });
});
