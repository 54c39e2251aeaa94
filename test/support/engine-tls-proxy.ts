/**
 * A private TLS front for the test engine, as a remote dockerd with --tlsverify would be: certificates made by
 * openssl for the test (a CA, a server certificate for 127.0.0.1, a client certificate), and a TLS server on
 * 127.0.0.1 that asks for a client certificate signed by that CA and passes the bytes to the test engine's unix
 * socket. The shared test engine itself is never touched.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect as connectUnix, type AddressInfo } from 'node:net';
import path from 'node:path';
import { createServer, type Server } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA in `dir` (ca.pem, ca-key.pem). */
export async function makeCa(dir: string, name: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('openssl', ['req', '-x509', ...EC_KEY, '-keyout', path.join(dir, 'ca-key.pem'), '-out', path.join(dir, 'ca.pem'), '-days', '1', '-subj', `/CN=${name}`]);
}

/** A certificate signed by the CA in `caDir`, written as `${prefix}cert.pem` and `${prefix}key.pem` in `dir`. */
export async function issue(caDir: string, dir: string, prefix: string, subject: string, extensions: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const key = path.join(dir, `${prefix}key.pem`);
  const csr = path.join(dir, `${prefix}req.csr`);
  const ext = path.join(dir, `${prefix}ext.cnf`);
  await writeFile(ext, `${extensions}\n`);
  await run('openssl', ['req', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${subject}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(caDir, 'ca.pem'), '-CAkey', path.join(caDir, 'ca-key.pem'), '-CAcreateserial',
    '-out', path.join(dir, `${prefix}cert.pem`), '-days', '1', '-extfile', ext]);
}

export interface EngineTlsProxy {
  port: number;
  /** TLS sessions that completed the handshake, client certificate checked. */
  readonly sessions: number;
  close: () => Promise<void>;
}

/** Serves TLS on 127.0.0.1 with the server certificate in `serverDir`, passing each session to `socketPath`. */
export async function startEngineTlsProxy(caDir: string, serverDir: string, socketPath: string): Promise<EngineTlsProxy> {
  let sessions = 0;
  const server: Server = createServer(
    {
      key: await readFile(path.join(serverDir, 'server-key.pem')),
      cert: await readFile(path.join(serverDir, 'server-cert.pem')),
      ca: await readFile(path.join(caDir, 'ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (client) => {
      sessions += 1;
      const engine = connectUnix(socketPath);
      client.pipe(engine).pipe(client);
      client.on('error', () => engine.destroy());
      engine.on('error', () => client.destroy());
    },
  );
  // A refused handshake (no or a foreign client certificate) is what some tests expect.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get sessions() {
      return sessions;
    },
    close: () => new Promise((resolve) => { server.close(() => { resolve(); }); }),
  };
}
