/** Where a local probe reaches the daemon: its listen address, with a wildcard host replaced by loopback. */
import type { ListenAddress } from './config/schema.js';

export function localProbeUrl(listen: ListenAddress, path: string): string {
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${String(listen.port)}${path}`;
}
