/**
 * The image's HEALTHCHECK (`node dist/healthcheck.js`): GET /healthz where the daemon listens, per CVM_LISTEN or
 * the default, and exit 0 on a 200. A separate entry point, so that a check costs no config load and no engine.
 */
import { OPTIONS } from './config/options.js';
import { parseListen } from './config/values.js';
import { localProbeUrl } from './probe-url.js';

const TIMEOUT_MS = 3000;

async function check(): Promise<number> {
  const listen = parseListen(process.env['CVM_LISTEN'] || (OPTIONS.listen.default ?? '127.0.0.1:7070'));
  const url = localProbeUrl(listen, '/healthz');
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (response.ok) return 0;
    process.stderr.write(`healthcheck: ${url} answered ${String(response.status)}\n`);
  } catch (err) {
    process.stderr.write(`healthcheck: ${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  return 1;
}

process.exitCode = await check();
