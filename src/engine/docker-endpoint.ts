/**
 * Where the engine is and how to reach it: a unix socket, or TCP, in the clear or over mutual TLS the way the Docker
 * CLI does it (DOCKER_CERT_PATH holding ca.pem, cert.pem and key.pem).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type Dockerode from 'dockerode';

/** Mutual TLS to a remote engine, as the Docker CLI does it (DOCKER_CERT_PATH's ca.pem, cert.pem, key.pem). */
export interface EngineTls {
  ca: Buffer;
  /** The client's certificate and key, for an engine that asks for one (dockerd --tlsverify); both or neither. */
  cert?: Buffer;
  key?: Buffer;
}

/** Reads DOCKER_CERT_PATH's files; throws an Error naming the file that is missing or unreadable. */
export function readEngineTls(certPath: string): EngineTls {
  const read = (name: string, required: boolean): Buffer | undefined => {
    const file = path.join(certPath, name);
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!required && code === 'ENOENT') return undefined;
      throw new Error(`${file}: ${code === 'ENOENT' ? 'missing' : `unreadable (${code ?? String(err)})`}`, { cause: err });
    }
  };
  const ca = read('ca.pem', true) as Buffer;
  const cert = read('cert.pem', false);
  const key = read('key.pem', false);
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(`${certPath}: cert.pem and key.pem go together (the client's certificate and its key); one is missing`);
  }
  return { ca, ...(cert !== undefined && key !== undefined && { cert, key }) };
}

/**
 * dockerode's options for the endpoint. TLS material is always given explicitly (undefined when there is none):
 * docker-modem would otherwise take DOCKER_CERT_PATH from the environment behind the daemon's back.
 */
export function dockerodeOptions(dockerHost: string, tls?: EngineTls): Dockerode.DockerOptions {
  const material = { ca: tls?.ca, cert: tls?.cert, key: tls?.key };
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost, ...material };
  const url = new URL(dockerHost);
  switch (url.protocol) {
    case 'unix:':
      return { socketPath: url.pathname, ...material };
    case 'tcp:':
    case 'http:':
    case 'https:': {
      if (url.protocol === 'https:' && tls === undefined) throw new Error(`${dockerHost}: https needs the engine's CA (DOCKER_CERT_PATH/ca.pem)`);
      const secure = tls !== undefined;
      return { protocol: secure ? 'https' : 'http', host: url.hostname, port: Number(url.port || (secure ? 2376 : 2375)), ...material };
    }
    default:
      throw new Error(`unsupported docker host ${dockerHost}: use unix:///path or tcp://host:port`);
  }
}
