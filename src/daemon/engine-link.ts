/**
 * How the daemon reaches the engine in host mode: the endpoint as configured, with DOCKER_CERT_PATH's files when
 * the link is TLS (https://, or tcp:// with --docker-tls-verify). A missing or unreadable file is a config error.
 */
import type { Logger } from 'pino';
import { type Config, ConfigError } from '../config/schema.js';
import { isLoopbackHost } from '../config/values.js';
import { type DockerEngineOptions } from '../engine/docker.js';
import { readEngineTls } from '../engine/docker-endpoint.js';

function usesTls(config: Pick<Config, 'dockerHost' | 'dockerTlsVerify'>): boolean {
  if (config.dockerHost.startsWith('/')) return false;
  const { protocol } = new URL(config.dockerHost);
  return protocol === 'https:' || (config.dockerTlsVerify && (protocol === 'tcp:' || protocol === 'http:'));
}

/** The engine options for config.dockerHost; throws ConfigError naming --docker-cert-path when its files fail. */
export function hostEngineOptions(config: Pick<Config, 'dockerHost' | 'dockerTlsVerify' | 'dockerCertPath'>): DockerEngineOptions {
  if (!usesTls(config)) return { dockerHost: config.dockerHost };
  try {
    return { dockerHost: config.dockerHost, tls: readEngineTls(config.dockerCertPath) };
  } catch (err) {
    throw new ConfigError('--docker-cert-path', `TLS to ${config.dockerHost}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Says, loudly, that --insecure-plaintext-engine is in use for an engine on another machine. */
export function warnOfPlaintextEngine(config: Pick<Config, 'dockerHost' | 'dockerTlsVerify' | 'insecurePlaintextEngine'>, logger: Logger): void {
  if (!config.insecurePlaintextEngine || usesTls(config) || config.dockerHost.startsWith('/')) return;
  const url = new URL(config.dockerHost);
  if (url.protocol === 'unix:' || isLoopbackHost(url.hostname)) return;
  logger.warn({ dockerHost: config.dockerHost }, 'INSECURE: the engine is reached in plain HTTP (--insecure-plaintext-engine): registry credentials, bootstrap scripts and agent tokens cross the network in the clear');
}
