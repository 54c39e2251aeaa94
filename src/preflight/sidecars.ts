/**
 * An Istio sidecar shares the supervising pod's network namespace; its ports show as listening sockets in the
 * daemon's own /proc/self/net/tcp{,6}. Legacy Istio (iptables redirection set up by istio-init) also captures the
 * traffic of the workspaces started from this pod, so it is reported as a warning, never a failure.
 */
import type { Place } from './place.js';
import { type Check, pass } from './report.js';

/** pilot-agent/Envoy ports: admin 15000, outbound 15001, inbound 15006, health 15021, Prometheus 15090. */
const ISTIO_PORTS: ReadonlySet<number> = new Set([15000, 15001, 15006, 15021, 15090]);
const TCP_LISTEN = '0A';

/** Local ports in LISTEN state in a /proc/net/tcp or tcp6 table. */
export function listeningPorts(table: string): number[] {
  const ports: number[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (local === undefined || fields[3] !== TCP_LISTEN) continue;
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) ports.push(port);
  }
  return ports;
}

export function istioCheck(tcpTables: readonly (string | null)[], place: Place): Check {
  const readable = tcpTables.filter((t): t is string => t !== null);
  if (readable.length === 0) return { id: 'istio', status: 'warn', evidence: '/proc/self/net/tcp is not readable', hint: null };
  const found = [...new Set(readable.flatMap(listeningPorts).filter((p) => ISTIO_PORTS.has(p)))].sort((a, b) => a - b);
  if (found.length === 0) return pass('istio', `no Istio sidecar ports are listening ${place === 'pod' ? 'in this pod' : 'on this machine'}`);
  return {
    id: 'istio',
    status: 'warn',
    evidence: `Istio sidecar ports listening: ${found.join(', ')}`,
    hint: 'legacy Istio redirects the workspaces\' traffic too: exclude this pod from injection (sidecar.istio.io/inject: "false") or use the Istio CNI plugin',
  };
}
