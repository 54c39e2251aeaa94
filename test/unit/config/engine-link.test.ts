/**
 * The link to a host-mode engine: plain tcp:// or http:// to another machine is refused at config load (it would
 * carry registry credentials, bootstrap scripts and agent tokens in the clear) unless TLS or the loudly named
 * --insecure-plaintext-engine is given; TLS reads DOCKER_CERT_PATH's files as the Docker CLI does.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { hostEngineOptions } from '../../../src/daemon/engine-link.js';
import { dockerodeOptions } from '../../../src/engine/docker-endpoint.js';
import { configErrorOf } from './helpers.js';

describe('plain HTTP to another machine is refused at load', () => {
  it.each([
    [['--docker-host', 'tcp://10.0.0.1:2375'], {}, '--docker-host: "tcp://10.0.0.1:2375" is plain HTTP to another machine'],
    [['--docker-host', 'http://engine.example.com:2375'], {}, '--docker-host: "http://engine.example.com:2375" is plain HTTP to another machine'],
    [[], { DOCKER_HOST: 'tcp://192.168.1.5:2375' }, 'DOCKER_HOST: "tcp://192.168.1.5:2375" is plain HTTP to another machine'],
    [[], { DOCKER_HOST: 'tcp://192.168.1.5:2376', DOCKER_TLS_VERIFY: '0' }, 'DOCKER_HOST: "tcp://192.168.1.5:2376" is plain HTTP'],
  ])('%j %j: exit 2 with one line naming the field', (argv, env, message) => {
    const error = configErrorOf(() => loadConfig(argv, env));
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.message).toContain('--insecure-plaintext-engine true');
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it.each([
    [['--docker-host', 'tcp://127.0.0.1:2375'], {}],
    [['--docker-host', 'tcp://localhost:2375'], {}],
    [['--docker-host', 'tcp://[::1]:2375'], {}],
    [['--docker-host', 'unix:///run/docker.sock'], {}],
    [['--docker-host', 'tcp://10.0.0.1:2376', '--docker-tls-verify', 'true'], {}],
    [[], { DOCKER_HOST: 'tcp://10.0.0.1:2376', DOCKER_TLS_VERIFY: '1' }],
    [['--docker-host', 'https://10.0.0.1:2376'], {}],
    [['--docker-host', 'tcp://10.0.0.1:2375', '--insecure-plaintext-engine', 'true'], {}],
  ])('%j %j is accepted', (argv, env) => {
    expect(() => loadConfig(argv, env)).not.toThrow();
  });

  it('does not look at the docker host in embedded mode (its engine is its own socket)', () => {
    expect(loadConfig(['--engine', 'embedded'], { DOCKER_TLS_VERIFY: '1' }).engine).toBe('embedded');
  });

  it('reads DOCKER_TLS_VERIFY as the Docker tools write it, and nothing else', () => {
    expect(loadConfig([], { DOCKER_TLS_VERIFY: '1' }).dockerTlsVerify).toBe(true);
    expect(loadConfig([], {}).dockerTlsVerify).toBe(false);
    expect(configErrorOf(() => loadConfig([], { DOCKER_TLS_VERIFY: 'yes' })).message).toBe(
      'DOCKER_TLS_VERIFY: "yes" is not true or false (1 and 0, as the Docker tools write them, also work)',
    );
  });

  it('finds the certificates in ~/.docker unless told otherwise', () => {
    expect(loadConfig([], { HOME: '/home/ops' }).dockerCertPath).toBe('/home/ops/.docker');
    expect(loadConfig([], { HOME: '/home/ops', DOCKER_CERT_PATH: '/etc/docker/tls' }).dockerCertPath).toBe('/etc/docker/tls');
  });
});

describe('hostEngineOptions: the TLS files', () => {
  async function certDir(files: string[]): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'cvm-engine-tls-'));
    for (const name of files) await writeFile(path.join(dir, name), `${name} contents`);
    return dir;
  }
  const tlsConfig = (dockerCertPath: string, dockerHost = 'tcp://10.0.0.1:2376') => ({ dockerHost, dockerTlsVerify: true, dockerCertPath });

  it('reads ca.pem, cert.pem and key.pem', async () => {
    const dir = await certDir(['ca.pem', 'cert.pem', 'key.pem']);
    const { tls } = hostEngineOptions(tlsConfig(dir));
    expect([tls?.ca.toString(), tls?.cert?.toString(), tls?.key?.toString()]).toEqual(['ca.pem contents', 'cert.pem contents', 'key.pem contents']);
  });

  it('works with the CA alone (an engine that asks for no client certificate)', async () => {
    const { tls } = hostEngineOptions(tlsConfig(await certDir(['ca.pem'])));
    expect(tls?.ca.toString()).toBe('ca.pem contents');
    expect(tls?.cert).toBeUndefined();
  });

  it.each([
    [['cert.pem', 'key.pem'], /ca\.pem: missing/],
    [['ca.pem', 'cert.pem'], /cert\.pem and key\.pem go together/],
    [['ca.pem', 'key.pem'], /cert\.pem and key\.pem go together/],
  ])('with only %j: a config error naming --docker-cert-path', async (files, why) => {
    const dir = await certDir(files);
    const thrown = configErrorOf(() => hostEngineOptions(tlsConfig(dir)));
    expect(thrown.message).toMatch(/^--docker-cert-path: TLS to tcp:\/\/10\.0\.0\.1:2376: /);
    expect(thrown.message).toMatch(why);
  });

  it('reads nothing for a unix socket or plain loopback TCP', () => {
    expect(hostEngineOptions({ dockerHost: 'unix:///run/docker.sock', dockerTlsVerify: true, dockerCertPath: '/nonexistent' })).toEqual({ dockerHost: 'unix:///run/docker.sock' });
    expect(hostEngineOptions({ dockerHost: 'tcp://127.0.0.1:2375', dockerTlsVerify: false, dockerCertPath: '/nonexistent' })).toEqual({ dockerHost: 'tcp://127.0.0.1:2375' });
  });
});

describe('dockerodeOptions', () => {
  const tls = { ca: Buffer.from('ca'), cert: Buffer.from('cert'), key: Buffer.from('key') };

  it('speaks HTTPS with the given material, on 2376 by default', () => {
    expect(dockerodeOptions('tcp://10.0.0.1', tls)).toEqual({ protocol: 'https', host: '10.0.0.1', port: 2376, ...tls });
    expect(dockerodeOptions('https://10.0.0.1:3000', tls)).toMatchObject({ protocol: 'https', port: 3000 });
  });

  it('without TLS, passes no material at all, so that docker-modem cannot take DOCKER_CERT_PATH from the environment', () => {
    const options = dockerodeOptions('tcp://127.0.0.1');
    expect(options).toEqual({ protocol: 'http', host: '127.0.0.1', port: 2375, ca: undefined, cert: undefined, key: undefined });
    expect(Object.keys(options)).toEqual(expect.arrayContaining(['ca', 'cert', 'key']));
  });

  it('refuses https:// without a CA', () => {
    expect(() => dockerodeOptions('https://10.0.0.1:2376')).toThrow(/https needs the engine's CA/);
  });
});
