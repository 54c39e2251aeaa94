/**
 * Mutual TLS to the engine, the Docker CLI's way (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH with ca.pem, cert.pem,
 * key.pem), against a private TLS front of the test engine on 127.0.0.1 that demands a client certificate
 * (test/support/engine-tls-proxy.ts). The daemon as `serve` builds it starts through it and runs a workspace with a
 * bootstrap (exec streams over TLS); the proxy counts the sessions, so the traffic went through TLS. Without the
 * client certificate, with a foreign CA, or in plain HTTP to the TLS port, the engine does not answer.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { WORKSPACE_LABEL } from '../../src/container/labels.js';
import { hostEngineOptions } from '../../src/daemon/engine-link.js';
import { type Daemon, startDaemon } from '../../src/daemon/run.js';
import { DockerEngine } from '../../src/engine/docker.js';
import { EngineUnavailableError } from '../../src/engine/engine-errors.js';
import { engineRequest, removeLabelled, requireTestEngine, testDockerHost } from '../support/engine.js';
import { type EngineTlsProxy, issue, makeCa, startEngineTlsProxy } from '../support/engine-tls-proxy.js';
import { BUSYBOX_IMAGE } from '../support/images.js';
import { untilRunning } from '../support/until-phase.js';

const RUN = randomBytes(3).toString('hex');
const ID = `engine-tls-${RUN}`;

describe('TLS to the engine (a private TLS front of the test engine on 127.0.0.1)', () => {
  let dir: string;
  let proxy: EngineTlsProxy;
  let engineHost: string;
  /** DOCKER_CERT_PATH layouts: the full set, the CA alone, and a full set under a CA that did not sign the server. */
  const certs = { full: '', caOnly: '', foreign: '' };

  beforeAll(async () => {
    await requireTestEngine({ images: [BUSYBOX_IMAGE] });
    dir = await mkdtemp(path.join(tmpdir(), `cvm-engine-tls-${RUN}-`));
    const ca = path.join(dir, 'ca');
    const server = path.join(dir, 'server');
    await makeCa(ca, 'cvm-supervisor test CA');
    await issue(ca, server, 'server-', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth');
    certs.full = path.join(dir, 'client');
    await issue(ca, certs.full, '', 'cvm-supervisor', 'extendedKeyUsage=clientAuth');
    await copyFile(path.join(ca, 'ca.pem'), path.join(certs.full, 'ca.pem'));
    certs.caOnly = path.join(dir, 'ca-only');
    await makeCa(certs.caOnly, 'unused');
    await copyFile(path.join(ca, 'ca.pem'), path.join(certs.caOnly, 'ca.pem'));
    const foreignCa = path.join(dir, 'foreign-ca');
    await makeCa(foreignCa, 'another CA');
    certs.foreign = path.join(dir, 'foreign');
    await issue(foreignCa, certs.foreign, '', 'cvm-supervisor', 'extendedKeyUsage=clientAuth');
    await copyFile(path.join(foreignCa, 'ca.pem'), path.join(certs.foreign, 'ca.pem'));
    proxy = await startEngineTlsProxy(ca, server, new URL(testDockerHost()).pathname);
    engineHost = `tcp://127.0.0.1:${String(proxy.port)}`;
  });
  afterAll(async () => {
    await removeLabelled(`${WORKSPACE_LABEL}=${ID}`);
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('DOCKER_HOST, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH reach the engine over TLS', async () => {
    const config = loadConfig([], { DOCKER_HOST: engineHost, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.full });
    const before = proxy.sessions;
    const info = await new DockerEngine(hostEngineOptions(config)).info();
    const direct = JSON.parse((await engineRequest('GET', '/version')).body) as { Version: string };
    expect(info.serverVersion).toBe(direct.Version);
    expect(proxy.sessions).toBeGreaterThan(before);
  });

  it('serve starts through it and runs a workspace whose bootstrap streams over TLS', async () => {
    const state = path.join(dir, 'state');
    const config = loadConfig(['--docker-host', engineHost, '--docker-tls-verify', 'true', '--docker-cert-path', certs.full, '--state-dir', state, '--shutdown-policy', 'stop'], {});
    const daemon: Daemon = await startDaemon(config, pino({ level: 'silent' }));
    try {
      expect(await daemon.started).toBe(true);
      await daemon.manager.put(ID, { image: BUSYBOX_IMAGE, cvm: false, pullPolicy: 'never', bootstrap: { script: '#!/bin/sh\necho over-tls\n' } });
      await untilRunning(daemon.manager, ID);
      await expect.poll(() => daemon.manager.workspace(ID)?.log.snapshot().map((e) => e.message) ?? [], { timeout: 30_000, interval: 100 }).toContain('bootstrap exited with code 0');
      expect(daemon.manager.workspace(ID)?.log.snapshot().map((e) => e.message)).toContain('over-tls');
    } finally {
      for (const step of daemon.shutdownSteps) await step(Date.now() + 20_000);
    }
  });

  it.each([
    ['without a client certificate', () => ({ dockerTlsVerify: true, dockerCertPath: certs.caOnly })],
    ['with a CA that did not sign the server', () => ({ dockerTlsVerify: true, dockerCertPath: certs.foreign })],
    ['in plain HTTP to the TLS port', () => ({ dockerTlsVerify: false, dockerCertPath: certs.full })],
  ])('%s, the engine does not answer', async (_name, tls) => {
    const engine = new DockerEngine(hostEngineOptions({ dockerHost: engineHost, ...tls() }));
    await expect(engine.ping(5000)).rejects.toBeInstanceOf(EngineUnavailableError);
  });
});
